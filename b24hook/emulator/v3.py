"""REST 3.0 (``/rest/api/``): query grammar helpers, ``rest.*`` methods and
the v3 forms of ``crm.item.*`` (§8)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Literal, overload

from .catalog import fields_for
from .errors import RestError, V3Error, v3_validation
from .filters import compile_v3
from .m_crm import _write, crm_deleted, render_item
from .registry import GLOBAL, REGISTRY, Call, Reply, as_int

if TYPE_CHECKING:  # pragma: no cover
    import sqlite3

    from .catalog import Field

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


@overload
def v3_int(call: Call, name: str, *, required: Literal[True] = ...) -> int: ...
@overload
def v3_int(call: Call, name: str, *, required: bool) -> int | None: ...


def v3_int(call: Call, name: str, *, required: bool = True) -> int | None:
    if name not in call.params or call.params[name] is None:
        if required:
            raise v3_validation(name, f"Required field `{name}` is not specified")
        return None
    v = call.params[name]
    i = as_int(v)
    if i is None:
        raise v3_validation(name, f"Field `{name}` must be of type int")
    return i


def v3_select(call: Call, own: set[str], relations: dict[str, tuple[str, set[str]]],
              default: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    sel = call.params.get("select")
    if sel is None:
        return list(default), {}
    if not isinstance(sel, list) or not all(isinstance(s, str) for s in sel):
        raise V3Error("INVALIDSELECTEXCEPTION", "Cannot recognize select parameter")
    fields: list[str] = []
    rels: dict[str, list[str]] = {}
    for s in sel:
        if "." in s:
            rel, sub = s.split(".", 1)
            if rel not in relations:
                continue                      # unknown field of the object: dropped
            dto, known = relations[rel]
            if sub not in known:
                raise V3Error("UNKNOWNDTOPROPERTYEXCEPTION", f"Unknown field `{sub}` for entity `{dto}`")
            rels.setdefault(rel, []).append(sub)
        elif s in own:
            fields.append(s)
        elif s in relations:
            rels.setdefault(s, list(relations[s][1]))
    if "id" not in fields and own and "id" in own:
        fields.insert(0, "id")
    return fields, rels


def v3_order(call: Call, resolve: Callable[[str], Any], default: str = "id ASC") -> str:
    order = call.params.get("order")
    if order is None or order == {} or order == []:
        return default
    if not isinstance(order, dict):
        raise V3Error("INVALIDORDEREXCEPTION", "Cannot recognize order parameter")
    parts = []
    for k, d in order.items():
        r = resolve(k)
        if r is None:
            raise V3Error("UNKNOWNDTOPROPERTYEXCEPTION", f"Unknown field `{k}` in order")
        if not isinstance(d, str) or d.upper() not in ("ASC", "DESC"):
            raise V3Error("INVALIDORDEREXCEPTION", f"Cannot recognize order direction `{d}` for `{k}`")
        parts.append(f"{r[0]} {d.upper()}")
    if not any(p.startswith("id ") for p in parts):
        parts.append("id ASC")
    return ", ".join(parts)


def v3_pagination(call: Call, cap: int = MAX_LIMIT) -> tuple[int, int]:
    p = call.params.get("pagination")
    if p is None:
        return min(DEFAULT_LIMIT, cap), 0
    bad = V3Error("INVALIDPAGINATIONEXCEPTION",
                  f"Cannot recognize pagination parameter `{json.dumps(p, separators=(',', ':'))}`")
    if not isinstance(p, dict):
        raise bad
    def num(k: str) -> int | None:
        if k not in p or p[k] is None:
            return None
        v = p[k]
        if isinstance(v, bool) or not isinstance(v, (int, str)) or (isinstance(v, str) and not v.isdigit()):
            raise bad
        return int(v)
    limit, page, offset = num("limit"), num("page"), num("offset")
    if limit is not None and limit <= 0:
        raise bad
    limit = min(limit or DEFAULT_LIMIT, MAX_LIMIT, cap)
    if page is not None:
        # Pages count from 1; page 0 (what the JS SDK's list walkers send, and
        # real portals answer) is the first page too.
        offset = max(page - 1, 0) * limit
    return limit, offset or 0


# ================================================================ rest.*

@REGISTRY.method("rest.scope.list", scope=GLOBAL, api="v3", description="Scopes and their methods")
def rest_scope_list(call: Call) -> Any:
    by: dict[str, list[str]] = {}
    for api in ("v3",):
        for s in REGISTRY.specs(api):
            by.setdefault(s.scope or "", []).append(s.name)
    return {"items": [{"scope": k, "methods": v} for k, v in sorted(by.items())]}


def openapi_document(call: Call) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    tags: set[str] = set()
    for s in REGISTRY.specs("v3"):
        if s.scope is not None and not call.webhook.has_scope(s.scope):
            continue
        tag = s.name.split(".")[0]
        tags.add(tag)
        paths["/" + s.name] = {"post": {
            "tags": [tag], "summary": s.description or s.name, "operationId": s.name,
            "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "Success",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
            "security": [{"webhook": []}],
            "x-scope": s.scope or "",
        }}
    return {"openapi": "3.0.0",
            "info": {"title": "Bitrix24 REST V3 API", "version": "1.0.0"},
            "servers": [{"url": call.portal.origin + "/rest/api"}],
            "paths": paths,
            "tags": [{"name": t} for t in sorted(tags)]}


@REGISTRY.method("rest.documentation.openapi", scope=GLOBAL, api="v3", description="OpenAPI document")
def rest_documentation_openapi(call: Call) -> Any:
    return Reply(openapi_document(call), bare=True)


REGISTRY.method("documentation", scope=GLOBAL, api="v3",
                description="OpenAPI document (alias)")(rest_documentation_openapi)


# ================================================================ crm.item (v3)

def _crm_type(call: Call) -> tuple[int, list[Field]]:
    et = v3_int(call, "entityTypeId")
    fields = fields_for(et)
    if fields is None:
        raise V3Error("ENTITYNOTFOUNDEXCEPTION", f"Entity type with ID = `{et}` not found")
    fields = [f for f in fields if f.type != "crm_multifield"]
    return et, fields


def _crm_render(row: sqlite3.Row, fields: list[Field], et: int, sel: list[str] | None) -> dict[str, Any]:
    return render_item(row, fields, et, set(sel) if sel is not None else None)


def _crm_nf(id_: int) -> V3Error:
    return V3Error("ENTITYNOTFOUNDEXCEPTION", f"Record with ID = `{id_}` not found")


@REGISTRY.method("crm.item.get", scope="crm", api="v3", description="CRM item")
def v3_crm_item_get(call: Call) -> Any:
    et, fields = _crm_type(call)
    id_ = v3_int(call, "id")
    row = call.store.one("SELECT * FROM crm_item WHERE entity_type_id=? AND id=?", (et, id_))
    if row is None:
        raise _crm_nf(id_)
    own = {f.camel for f in fields}
    sel, _ = v3_select(call, own, {}, sorted(own))
    return {"item": _crm_render(row, fields, et, sel)}


@REGISTRY.method("crm.item.list", scope="crm", api="v3", description="CRM items")
def v3_crm_item_list(call: Call) -> Any:
    et, fields = _crm_type(call)
    m = {f.camel: (f.col, f.type) for f in fields}
    where, args = compile_v3(call.params.get("filter"), m.get, "ItemDto")
    order = v3_order(call, m.get)
    limit, offset = v3_pagination(call)
    sel, _ = v3_select(call, set(m), {}, ["id"])
    rows = call.store.query(f"SELECT * FROM crm_item WHERE entity_type_id=? AND {where} "
                            f"ORDER BY {order} LIMIT ? OFFSET ?", [et, *args, limit, offset])
    call.rows(len(rows))
    return {"items": [_crm_render(r, fields, et, sel) for r in rows]}


def _crm_write(call: Call, update: bool) -> Any:
    et, fields = _crm_type(call)
    id_ = v3_int(call, "id") if update else None
    data = call.params.get("fields")
    if not isinstance(data, dict):
        raise v3_validation("fields", "Required field `fields` is not specified")
    if id_ is not None and call.store.one("SELECT 1 FROM crm_item WHERE entity_type_id=? AND id=?", (et, id_)) is None:
        raise _crm_nf(id_)
    try:
        new_id = _write(call, et, fields, data, item=True, id_=id_)
    except RestError as exc:
        raise V3Error("VALIDATION_DTOVALIDATIONEXCEPTION", exc.description, 400,
                      [{"field": "fields", "message": exc.description}])
    return new_id, et, fields


@REGISTRY.method("crm.item.add", scope="crm", api="v3", description="Create a CRM item")
def v3_crm_item_add(call: Call) -> Any:
    id_, et, fields = _crm_write(call, False)
    row = call.store.one_row("SELECT * FROM crm_item WHERE entity_type_id=? AND id=?", (et, id_))
    return {"item": _crm_render(row, fields, et, None)}


@REGISTRY.method("crm.item.update", scope="crm", api="v3", description="Update a CRM item")
def v3_crm_item_update(call: Call) -> Any:
    _crm_write(call, True)
    return {"result": True}


@REGISTRY.method("crm.item.delete", scope="crm", api="v3", description="Delete a CRM item")
def v3_crm_item_delete(call: Call) -> Any:
    et, _ = _crm_type(call)
    id_ = v3_int(call, "id")
    cur = call.store.execute("DELETE FROM crm_item WHERE entity_type_id=? AND id=?", (et, id_))
    if cur.rowcount == 0:
        raise _crm_nf(id_)
    crm_deleted(call, et, id_)
    return {"result": True}



