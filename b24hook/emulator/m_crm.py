"""CRM: universal ``crm.item.*`` (controller, camelCase, real ints) and the
legacy ``crm.{lead,deal,contact,company}.*`` (classic, UPPER_SNAKE, strings)."""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from .catalog import ENTITY_NAMES, SPA_TYPES, Field, fields_for
from .errors import RestError, legacy_error
from .filters import Resolver, compile_v2
from .listing import list_reply, run_list
from .registry import REGISTRY, Call, as_int, as_list

INT_TYPES = {"integer", "user", "crm_company", "crm_contact", "crm_category"}
DATE_TYPES = {"date", "datetime"}
_TRUE = (True, "true", "y", "Y", "1", 1)


def _type_or_fail(call: Call) -> tuple[int, list[Field]]:
    et = call.int_param("entityTypeId")
    fields = fields_for(et)
    if fields is None:
        raise RestError("NOT_FOUND", "Smart process not found", 400)
    return et, fields


def _uf_names(call: Call) -> bool:
    v = call.params.get("useOriginalUfNames")
    return str(v).upper() in ("Y", "TRUE", "1") or v is True


def item_name(f: Field, original_uf: bool) -> str:
    return f.upper if (original_uf and f.dynamic) else f.camel


# how a stored column becomes an answer's value
_PLAIN, _BOOL, _ENUMS, _INT, _FLOAT = range(5)


def _item_plan(fields: list[Field], select: set[str] | None, original_uf: bool) -> list[tuple[str, str, int]]:
    """(column, answer name, conversion) of each field an item shows, in field order."""
    plan = []
    for f in fields:
        if f.type == "crm_multifield":
            continue
        if select is not None and f.col != "id" and f.camel not in select and f.upper not in select:
            continue
        kind = (_BOOL if f.type == "boolean"                 # user field: stored 1/0, answered Y/N
                else _ENUMS if f.type == "enumeration" and f.multiple
                else _INT if f.type in INT_TYPES else _FLOAT if f.type == "double" else _PLAIN)
        plan.append((f.col, item_name(f, original_uf), kind))
    return plan


def render_items(rows: list[Any], fields: list[Field], et: int, select: set[str] | None,
                 original_uf: bool = False) -> list[dict[str, Any]]:
    """The items of ``rows``; the field plan is made once for the whole page."""
    plan = _item_plan(fields, select, original_uf)
    with_et = et in SPA_TYPES and (select is None or "entityTypeId" in select)
    out = []
    for row in rows:
        item: dict[str, Any] = {}
        for col, name, kind in plan:
            v = row[col]
            if kind:
                if kind == _BOOL:
                    v = "Y" if v == "1" else "N"
                elif kind == _ENUMS:
                    v = json.loads(v) if v else []
                elif v is not None:
                    v = int(v) if kind == _INT else float(v)
            item[name] = v
        if with_et:
            item["entityTypeId"] = et
        out.append(item)
    return out


def render_item(row: Any, fields: list[Field], et: int, select: set[str] | None,
                original_uf: bool = False) -> dict[str, Any]:
    return render_items([row], fields, et, select, original_uf)[0]


def _resolver(fields: list[Field], *, legacy: bool) -> Resolver:
    m: dict[str, tuple[str, str]] = {}
    for f in fields:
        if legacy:
            m[f.upper] = (f.col, f.type)
        else:
            if f.type == "crm_multifield":
                continue
            m[f.camel] = (f.col, f.type)
            m[f.upper] = (f.col, f.type)   # crm.item pre-registers the entity's upper names
    return m.get


def _order_sql(order: Any, resolve: Resolver, *, strict: bool, default: str = "id ASC") -> str:
    if not isinstance(order, dict) or not order:
        return default
    parts = []
    for k, d in order.items():
        r = resolve(str(k) if strict else str(k).upper())
        if r is None:
            if strict:
                raise RestError("INVALID_ARG_VALUE", f"Invalid order: field '{k}' is not allowed in order", 400)
            continue
        dd = str(d).upper()
        if dd not in ("ASC", "DESC"):
            if strict:
                raise RestError("INVALID_ARG_VALUE", f"Invalid order direction for field '{k}'", 400)
            dd = "ASC"
        parts.append(f"{r[0]} {dd}")
    if not any(p.startswith("id ") for p in parts):
        parts.append("id ASC")
    return ", ".join(parts)


def _coerce_in(f: Field, v: Any, *, item: bool) -> Any:
    if v is None or v == "" and f.type != "string":
        return None
    if f.type in INT_TYPES:
        i = as_int(v)
        if i is None:
            raise RestError("CRM_FIELD_ERROR_VALUE_NOT_VALID",
                            f"Incorrect value of field \"{f.title}\"", 400)
        return i
    if f.type == "double":
        try:
            return float(v)
        except (TypeError, ValueError):
            raise RestError("CRM_FIELD_ERROR_VALUE_NOT_VALID",
                            f"Incorrect value of field \"{f.title}\"", 400)
    if f.type == "boolean":
        return "1" if v in _TRUE or (isinstance(v, str) and v.lower() in ("y", "true")) else "0"
    if f.type == "enumeration":
        ids = [i for i in (as_int(x) for x in as_list(v)) if i is not None]
        known = {i for i, _ in f.items}
        if any(i not in known for i in ids):
            raise RestError("CRM_FIELD_ERROR_VALUE_NOT_VALID", f"Incorrect value of field \"{f.title}\"", 400)
        return json.dumps(sorted(set(ids))) if f.multiple else (str(ids[0]) if ids else None)
    if f.type == "char":
        return "Y" if v in _TRUE or (isinstance(v, str) and v.lower() in ("y", "true")) else "N"
    if f.type == "crm_multifield":
        vals = []
        for n, e in enumerate(as_list(v)):
            if isinstance(e, dict) and e.get("VALUE"):
                vals.append({"ID": str(e.get("ID") or n + 1), "VALUE_TYPE": str(e.get("VALUE_TYPE") or "WORK"),
                             "VALUE": str(e["VALUE"]), "TYPE_ID": f.upper})
        return json.dumps(vals)
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    if isinstance(v, bool):
        return "Y" if v else "N"
    return str(v)


def crm_table(et: int) -> str:
    """Name of an entity's "table" in ``stats()["rows_created"]``."""
    return f"crm_{ENTITY_NAMES[et]}" if et in ENTITY_NAMES else f"crm_dynamic_{et}"


def crm_audit(et: int, verb: str) -> str:
    return f"CRM_{ENTITY_NAMES.get(et, f'DYNAMIC_{et}').upper()}_{verb}"


def crm_deleted(call: Call, et: int, id_: int) -> None:
    call.wrote(crm_table(et), crm_audit(et, "DELETE"), "crm", id_, created=False)


def _write(call: Call, et: int, fields: list[Field], data: dict[str, Any], *, item: bool,
           id_: int | None) -> int:
    if not isinstance(data, dict):
        data = {}
    cols: dict[str, Any] = {}
    for f in fields:
        if f.read_only:
            continue
        for key in ((f.camel, f.upper) if item else (f.upper,)):
            if key in data:
                cols[f.col] = _coerce_in(f, data[key], item=item)
                break
    store = call.store
    now = store.now_iso()
    user = call.webhook.user_id
    cols["updated_by"] = user
    cols["updated_time"] = now
    with store.lock:
        if id_ is None:
            defaults = {"opened": "Y", "assigned_by_id": user, "currency_id": "USD"}
            if et == 1:
                defaults.update(stage_id="NEW")
            elif et == 2:
                defaults.update(stage_id="NEW", category_id=0, closed="N", opportunity=0.0)
            elif et in SPA_TYPES:
                cat = SPA_TYPES[et]["id"] * 10
                defaults.update(category_id=cat, stage_id=f"DT{et}_{cat}:NEW", xml_id="",
                                opportunity=0.0, moved_by=user, moved_time=now)
            for k, v in defaults.items():
                cols.setdefault(k, v)
            cols.update(created_by=user, created_time=now, entity_type_id=et)
            id_ = store.next_id(f"crm{et}", "SELECT MAX(id) FROM crm_item WHERE entity_type_id=?", (et,))
            cols["id"] = id_
            names = list(cols)
            store.execute(f"INSERT INTO crm_item({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                          [cols[n] for n in names])
        else:
            if "stage_id" in cols:
                cols.update(moved_by=user, moved_time=now)
            names = list(cols)
            store.execute(f"UPDATE crm_item SET {', '.join(n + '=?' for n in names)} "
                          "WHERE entity_type_id=? AND id=?", [cols[n] for n in names] + [et, id_])
            call.wrote(crm_table(et), crm_audit(et, "UPDATE"), "crm", id_, created=False)
            return id_
        call.wrote(crm_table(et), crm_audit(et, "ADD"), "crm", id_, created=True)
    return id_


def _fetch(call: Call, et: int, id_: int) -> sqlite3.Row | None:
    return call.store.one("SELECT * FROM crm_item WHERE entity_type_id=? AND id=?", (et, id_))


def _not_found() -> RestError:
    return RestError("NOT_FOUND", "Element not found", 400)


def _select_set(sel: Any) -> set[str] | None:
    names = [str(s) for s in as_list(sel) if not isinstance(s, (dict, list))]
    if not names or "*" in names:
        return None
    return set(names)


# ================================================================ crm.item.*

@REGISTRY.method("crm.item.fields", scope="crm", style="controller")
def crm_item_fields(call: Call) -> Any:
    et, fields = _type_or_fail(call)
    uf = _uf_names(call)
    out = {}
    for f in fields:
        if f.type == "crm_multifield":
            continue
        # crm.item.fields reports the Y/N "char" fields of the legacy methods as boolean
        d = {"type": "boolean" if f.type == "char" else f.type, "isRequired": f.required,
             "isReadOnly": f.read_only, "isImmutable": False, "isMultiple": f.multiple,
             "isDynamic": f.dynamic, "title": f.title, "upperName": f.upper}
        if f.status_type:
            d["statusType"] = f.status_type
        if f.items:
            d["items"] = [{"ID": i, "VALUE": label} for i, label in f.items]
        out[item_name(f, uf)] = d
    return {"fields": out}


@REGISTRY.method("crm.item.list", scope="crm", style="controller")
def crm_item_list(call: Call) -> Any:
    et, fields = _type_or_fail(call)
    resolve = _resolver(fields, legacy=False)
    filt = call.params.get("filter")
    where, args = compile_v2(filt if isinstance(filt, dict) else {}, resolve, groups=True,
                             strict=lambda n: RestError(
                                 "INVALID_ARG_VALUE", f"Invalid filter: field '{n}' is not allowed in filter", 400))
    order = _order_sql(call.params.get("order"), resolve, strict=True)
    rows, nxt, total, counted = run_list(call, table="crm_item", where=f"entity_type_id=? AND ({where})",
                                         args=[et, *args], order=order, controller=True)
    sel = _select_set(call.params.get("select"))
    uf = _uf_names(call)
    items = render_items(rows, fields, et, sel, uf)
    return list_reply(call, {"items": items}, nxt, total, counted, controller=True)


@REGISTRY.method("crm.item.get", scope="crm", style="controller")
def crm_item_get(call: Call) -> Any:
    et, fields = _type_or_fail(call)
    id_ = call.int_param("id")
    row = _fetch(call, et, id_)
    if row is None:
        raise _not_found()
    return {"item": render_item(row, fields, et, None, _uf_names(call))}


@REGISTRY.method("crm.item.add", scope="crm", style="controller")
def crm_item_add(call: Call) -> Any:
    et, fields = _type_or_fail(call)
    data = call.require("fields")
    if not isinstance(data, dict):
        data = {}
    id_ = _write(call, et, fields, data, item=True, id_=None)
    return {"item": render_item(_fetch(call, et, id_), fields, et, None, _uf_names(call))}


@REGISTRY.method("crm.item.update", scope="crm", style="controller")
def crm_item_update(call: Call) -> Any:
    et, fields = _type_or_fail(call)
    id_ = call.int_param("id")
    data = call.params.get("fields") or {}
    if _fetch(call, et, id_) is None:
        raise _not_found()
    _write(call, et, fields, data, item=True, id_=id_)
    return {"item": render_item(_fetch(call, et, id_), fields, et, None, _uf_names(call))}


@REGISTRY.method("crm.item.delete", scope="crm", style="controller")
def crm_item_delete(call: Call) -> Any:
    et, _ = _type_or_fail(call)
    id_ = call.int_param("id")
    cur = call.store.execute("DELETE FROM crm_item WHERE entity_type_id=? AND id=?", (et, id_))
    if cur.rowcount == 0:
        raise _not_found()
    crm_deleted(call, et, id_)
    return []


# ================================================================ legacy

def render_legacy(row: Any, fields: list[Field], select: set[str] | None, *,
                  multifields: bool, user_fields: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        if f.dynamic and not user_fields and (select is None or f.upper not in select):
            continue
        if f.type == "crm_multifield":
            if not (multifields or (select is not None and f.upper in select)):
                continue
            raw = row[f.col]
            vals = json.loads(raw) if raw else []
            if vals or select is not None:
                out[f.upper] = vals
            continue
        if select is not None and f.upper != "ID" and f.upper not in select:
            continue
        v = row[f.col]
        if f.type == "enumeration" and f.multiple:   # ids as strings, like every legacy value
            out[f.upper] = [str(i) for i in json.loads(v)] if v else []
            continue
        if f.type == "boolean":   # a boolean user field is never empty: 0 by default
            out[f.upper] = "1" if v == "1" else "0"
            continue
        if v is None:
            v = "" if f.type in DATE_TYPES else None
        elif f.type == "double":
            v = f"{float(v):.2f}"
        elif isinstance(v, (int, float)):
            v = str(v)
        out[f.upper] = v
    return out


def _legacy_id(p: dict[str, Any]) -> int:
    i = as_int(p.get("ID"))
    if i is None or i <= 0:
        raise legacy_error("ID is not defined or invalid.")
    return i


def _make_legacy(name: str, et: int) -> None:
    fields = fields_for(et)
    assert fields is not None
    resolve = _resolver(fields, legacy=True)

    def f_fields(call: Call) -> Any:
        out = {}
        for f in fields:
            d: dict[str, Any] = {"type": f.type, "isRequired": f.required, "isReadOnly": f.read_only,
                                 "isImmutable": False, "isMultiple": f.multiple, "isDynamic": f.dynamic,
                                 "title": f.upper if f.dynamic else f.title}
            if f.status_type:
                d["statusType"] = f.status_type
            if f.dynamic:   # user fields: the title is the code, the labels are the names
                d.update(listLabel=f.title, formLabel=f.title, filterLabel=f.title)
            if f.items:
                d["items"] = [{"ID": str(i), "VALUE": label} for i, label in f.items]
            out[f.upper] = d
        return out

    def f_list(call: Call) -> Any:
        p = call.upper_params()
        filt = p.get("FILTER")
        if filt not in (None, "") and not isinstance(filt, dict):
            raise legacy_error("Parameter 'filter' must be array.")
        order = p.get("ORDER")
        if order not in (None, "") and not isinstance(order, dict):
            raise legacy_error("Parameter 'order' must be array.")
        where, args = compile_v2(filt or {}, resolve, upper=True)
        rows, nxt, total, counted = run_list(
            call, table="crm_item", where=f"entity_type_id=? AND ({where})", args=[et, *args],
            order=_order_sql(order, resolve, strict=False), controller=False)
        sel_raw = [str(s).upper() for s in as_list(p.get("SELECT")) if not isinstance(s, (dict, list))]
        sel = None if (not sel_raw or "*" in sel_raw) else set(sel_raw)
        ufs = not sel_raw or "UF_*" in sel_raw
        if sel is not None and "UF_*" in sel:
            sel = (sel - {"UF_*"}) | {f.upper for f in fields if f.dynamic}
        data = [render_legacy(r, fields, sel, multifields=False, user_fields=ufs) for r in rows]
        return list_reply(call, data, nxt, total, counted, controller=False)

    def f_get(call: Call) -> Any:
        id_ = _legacy_id(call.upper_params())
        row = _fetch(call, et, id_)
        if row is None:
            raise legacy_error("Not found")
        return render_legacy(row, fields, None, multifields=True)

    def f_add(call: Call) -> Any:
        p = call.upper_params()
        data = p.get("FIELDS")
        if not isinstance(data, dict):
            raise legacy_error("Parameter 'fields' must be array.")
        return _write(call, et, fields, {str(k).upper(): v for k, v in data.items()}, item=False, id_=None)

    def f_update(call: Call) -> Any:
        p = call.upper_params()
        id_ = _legacy_id(p)
        data = p.get("FIELDS")
        if not isinstance(data, dict):
            raise legacy_error("Parameter 'fields' must be array.")
        if _fetch(call, et, id_) is None:
            raise legacy_error("Not found")
        _write(call, et, fields, {str(k).upper(): v for k, v in data.items()}, item=False, id_=id_)
        return True

    def f_delete(call: Call) -> Any:
        id_ = _legacy_id(call.upper_params())
        cur = call.store.execute("DELETE FROM crm_item WHERE entity_type_id=? AND id=?", (et, id_))
        if cur.rowcount == 0:
            raise legacy_error("Not found")
        crm_deleted(call, et, id_)
        return True

    for verb, fn in (("fields", f_fields), ("list", f_list), ("get", f_get), ("add", f_add),
                     ("update", f_update), ("delete", f_delete)):
        REGISTRY.method(f"crm.{name}.{verb}", scope="crm", style="classic")(fn)


for _et, _name in ENTITY_NAMES.items():
    _make_legacy(_name, _et)
