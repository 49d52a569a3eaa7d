"""REST 3.0 list extras (portal.md §8.4): the event log (``main.eventlog.list/get/
tail``, filled by CRM and task writes), the ``tail`` keyset cursor and the
``aggregate`` actions of tasks and CRM items."""
from __future__ import annotations

from typing import Any

from .errors import V3Error, v3_validation
from .filters import compile_v3
from .m_tasks import _V3_FIELDS
from .registry import REGISTRY, Call, as_int
from .v3 import MAX_LIMIT, _crm_type, v3_int, v3_order, v3_pagination, v3_select

EVENTLOG_FIELDS = {
    "id": ("id", "integer"), "timestampX": ("timestamp_x", "datetime"),
    "severity": ("severity", "string"), "auditTypeId": ("audit_type_id", "string"),
    "moduleId": ("module_id", "string"), "itemId": ("item_id", "string"),
    "remoteAddr": ("remote_addr", "string"), "userAgent": ("user_agent", "string"),
    "requestUri": ("request_uri", "string"), "siteId": ("site_id", "string"),
    "userId": ("user_id", "integer"), "guestId": ("guest_id", "integer"),
    "description": ("description", "string"),
}
_DEFAULT_SELECT = list(EVENTLOG_FIELDS)


def _render(row: Any, fields: list[str], m: dict[str, Any]) -> dict[str, Any]:
    return {f: row[m[f][0]] for f in fields}


# ================================================================ tail

def _filter_fields(filt: Any) -> set[str]:
    """Every field name used in a v3 filter (groups included)."""
    out: set[str] = set()
    if isinstance(filt, dict):
        for c in filt.get("conditions") or []:
            out |= _filter_fields(c)
    elif isinstance(filt, list):
        if filt and isinstance(filt[0], str):
            out.add(filt[0])
        else:
            for c in filt:
                out |= _filter_fields(c)
    return out


def run_tail(call: Call, table: str, fields: dict[str, Any], entity: str, base_where: str = "1",
             base_args: list[Any] | None = None) -> list[Any]:
    """``cursor {field = id, order = ASC, value = 0, limit = 50}``: rows after
    ``value`` in ``order`` (DESC walks below ``value``; with the default 0 it
    finds nothing, so DESC needs a start value)."""
    cur = call.params.get("cursor") or {}
    if not isinstance(cur, dict):
        raise v3_validation("cursor", "Field `cursor` must be an object")
    field = cur.get("field", "id")
    if not isinstance(field, str) or field not in fields:
        raise V3Error("UNKNOWNDTOPROPERTYEXCEPTION", f"Unknown field `{field}` for entity `{entity}`")
    order = str(cur.get("order", "ASC")).upper()
    if order not in ("ASC", "DESC"):
        raise V3Error("INVALIDORDEREXCEPTION", f"Cannot recognize cursor order `{cur.get('order')}`")
    limit = cur.get("limit", 50)
    li = as_int(limit)
    if li is None or li <= 0:
        raise V3Error("INVALIDPAGINATIONEXCEPTION", f"Cannot recognize cursor limit `{limit}`")
    li = min(li, MAX_LIMIT)
    value = cur.get("value", 0)
    filt = call.params.get("filter")
    if field in _filter_fields(filt):
        raise V3Error("INVALIDFILTEREXCEPTION",
                      f"Field `{field}` is the cursor field and cannot be used in filter")
    where, args = compile_v3(filt, fields.get, entity)
    col, typ = fields[field]
    if typ == "integer":
        iv = as_int(value)
        if iv is None:
            raise v3_validation("cursor", f"Cursor value `{value}` must be of type int")
        value = iv
    op = ">" if order == "ASC" else "<"
    sel, _ = v3_select(call, set(fields), {}, ["id"])
    if field not in sel:
        sel.append(field)
    rows = call.store.query(
        f"SELECT * FROM {table} WHERE ({base_where}) AND {where} AND {col} {op} ? "
        f"ORDER BY {col} {order}, id {order} LIMIT ?", [*(base_args or []), *args, value, li])
    call.rows(len(rows))
    return [_render(r, sel, fields) for r in rows]


# ================================================================ aggregate

_AGG = {"sum": "SUM({})", "avg": "AVG({})", "min": "MIN({})", "max": "MAX({})",
        "count": "COUNT({})", "countDistinct": "COUNT(DISTINCT {})"}


def run_aggregate(call: Call, table: str, fields: dict[str, Any], entity: str, base_where: str = "1",
                  base_args: list[Any] | None = None) -> dict[str, Any]:
    """``select: {func: [field…] | {field: alias}}`` -> ``{"result": {func: {alias: v}}}``."""
    sel = call.params.get("select")
    if not isinstance(sel, dict) or not sel:
        raise V3Error("INVALIDSELECTEXCEPTION", "Cannot recognize select parameter: "
                      "expected {function: [fields] | {field: alias}}")
    exprs: list[tuple[str, str, str]] = []
    for func, spec in sel.items():
        if func not in _AGG:
            raise V3Error("INVALIDSELECTEXCEPTION", f"Unknown aggregate function `{func}`")
        if isinstance(spec, list):
            pairs = [(f, f) for f in spec]
        elif isinstance(spec, dict):
            pairs = list(spec.items())
        else:
            raise V3Error("INVALIDSELECTEXCEPTION", f"Cannot recognize select for `{func}`")
        for f, alias in pairs:
            if not isinstance(f, str) or not isinstance(alias, str):
                raise V3Error("INVALIDSELECTEXCEPTION", f"Cannot recognize select for `{func}`")
            r = fields.get(f)
            if r is None:
                raise V3Error("UNKNOWNDTOPROPERTYEXCEPTION", f"Unknown field `{f}` for entity `{entity}`")
            exprs.append((func, alias, _AGG[func].format(r[0])))
    where, args = compile_v3(call.params.get("filter"), fields.get, entity)
    row = call.store.one_row(f"SELECT {', '.join(e for _, _, e in exprs)} FROM {table} "
                             f"WHERE ({base_where}) AND {where}", [*(base_args or []), *args])
    n = call.store.one_row(f"SELECT COUNT(*) FROM {table} WHERE ({base_where}) AND {where}",
                           [*(base_args or []), *args])[0]
    call.cost += n * call.portal.settings.count_cost_per_row     # a full scan, like COUNT
    out: dict[str, dict[str, Any]] = {}
    for i, (func, alias, _) in enumerate(exprs):
        v = row[i]
        if func in ("count", "countDistinct"):
            v = int(v or 0)
        elif isinstance(v, float) and v.is_integer() and func != "avg":
            v = int(v)
        out.setdefault(func, {})[alias] = v
    return {"result": out}


# ================================================================ main.eventlog.*

@REGISTRY.method("main.eventlog.list", scope="main", api="v3", description="Event log records")
def eventlog_list(call: Call) -> Any:
    where, args = compile_v3(call.params.get("filter"), EVENTLOG_FIELDS.get, "EventLogDto")
    order = v3_order(call, EVENTLOG_FIELDS.get)
    limit, offset = v3_pagination(call)
    sel, _ = v3_select(call, set(EVENTLOG_FIELDS), {}, _DEFAULT_SELECT)
    rows = call.store.query(f"SELECT * FROM eventlog WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                            [*args, limit, offset])
    call.rows(len(rows))
    return {"items": [_render(r, sel, EVENTLOG_FIELDS) for r in rows]}


@REGISTRY.method("main.eventlog.get", scope="main", api="v3", description="One event log record")
def eventlog_get(call: Call) -> Any:
    id_ = v3_int(call, "id")
    row = call.store.one("SELECT * FROM eventlog WHERE id=?", (id_,))
    if row is None:
        raise V3Error("ENTITYNOTFOUNDEXCEPTION", f"Record with ID = `{id_}` not found")
    sel, _ = v3_select(call, set(EVENTLOG_FIELDS), {}, _DEFAULT_SELECT)
    return {"item": _render(row, sel, EVENTLOG_FIELDS)}


@REGISTRY.method("main.eventlog.tail", scope="main", api="v3",
                 description="Event log records after a cursor")
def eventlog_tail(call: Call) -> Any:
    return {"items": run_tail(call, "eventlog", EVENTLOG_FIELDS, "EventLogDto")}


@REGISTRY.method("main.eventlog.field.list", scope="main", api="v3", description="Event log fields")
def eventlog_field_list(call: Call) -> Any:
    return {"items": [{"name": f, "type": t, "filterable": True, "sortable": True}
                      for f, (_, t) in EVENTLOG_FIELDS.items()]}


# ================================================================ aggregates

@REGISTRY.method("tasks.task.aggregate", scope="task", api="v3", description="Task aggregates")
def task_aggregate(call: Call) -> Any:
    return run_aggregate(call, "tasks", _V3_FIELDS, "TaskDto")


@REGISTRY.method("crm.item.aggregate", scope="crm", api="v3", description="CRM item aggregates")
def crm_item_aggregate(call: Call) -> Any:
    et, fields = _crm_type(call)
    m = {f.camel: (f.col, f.type) for f in fields}
    return run_aggregate(call, "crm_item", m, "ItemDto", "entity_type_id=?", [et])
