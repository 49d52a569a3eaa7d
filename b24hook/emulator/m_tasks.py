"""Tasks: ``tasks.task.*`` in v2 shapes (``{"task"}``, ``{"tasks"}`` + total,
string ids) and v3 shapes (``{"item"}``, ``{"items"}``, ``{"result": true}``)."""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from .catalog import TASK_COLUMNS
from .errors import RestError, V3Error
from .filters import compile_v2, compile_v3
from .listing import list_reply, run_list
from .registry import REGISTRY, Call, as_int, as_list
from .v3 import v3_int, v3_order, v3_pagination, v3_select

_BY_UPPER = {u: (c, t) for c, u, _, t in TASK_COLUMNS}
_BY_UPPER["REAL_STATUS"] = ("status", "integer")
_CAMEL = {c: camel for c, _, camel, _ in TASK_COLUMNS}
_WRITABLE_V2 = {"TITLE": "title", "DESCRIPTION": "description", "PRIORITY": "priority",
                "STATUS": "status", "RESPONSIBLE_ID": "responsible_id", "CREATED_BY": "created_by",
                "GROUP_ID": "group_id", "DEADLINE": "deadline"}
_INT_COLS = {c for c, _, _, t in TASK_COLUMNS if t == "integer"}


def _task_err() -> RestError:
    return RestError("ERROR_CORE", "Task not found or access denied", 400)


def _fetch(call: Call, id_: int) -> sqlite3.Row | None:
    return call.store.one("SELECT * FROM tasks WHERE id=?", (id_,))


def _write(call: Call, values: dict[str, Any], id_: int | None) -> int:
    store = call.store
    now = store.now_iso()
    cols = dict(values)
    for c in list(cols):
        if c in _INT_COLS and cols[c] is not None:
            i = as_int(cols[c])
            if i is None:
                raise RestError("ERROR_CORE", f"Wrong value for field {c.upper()}", 400)
            cols[c] = i
    cols["changed_date"] = now
    with store.lock:
        if id_ is None:
            cols.setdefault("status", 2)
            cols.setdefault("priority", 1)
            cols.setdefault("group_id", 0)
            cols.setdefault("created_by", call.webhook.user_id)
            cols.setdefault("responsible_id", call.webhook.user_id)
            cols.setdefault("description", "")
            cols["created_date"] = now
            cols["tags"] = "[]"
            id_ = store.next_id("tasks", "SELECT MAX(id) FROM tasks")
            cols["id"] = id_
            names = list(cols)
            store.execute(f"INSERT INTO tasks({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                          [cols[n] for n in names])
            call.wrote("tasks", "TASK_ADD", "tasks", id_, created=True)
        else:
            if cols.get("status") == 5:
                cols["closed_date"] = now
            names = list(cols)
            store.execute(f"UPDATE tasks SET {', '.join(n + '=?' for n in names)} WHERE id=?",
                          [cols[n] for n in names] + [id_])
            call.wrote("tasks", "TASK_UPDATE", "tasks", id_, created=False)
    return id_


# ================================================================ v2

# What tasks.task.getFields says of each column: UPPER names, "enum" with the
# values map for PRIORITY and STATUS, as the real portal answers.
_TASK_ENUMS = {
    "PRIORITY": {"2": "High", "1": "Normal", "0": "Low"},
    "STATUS": {"2": "Pending", "3": "In progress", "4": "Supposedly completed", "5": "Completed",
               "6": "Deferred"},
}
_TASK_TITLES = {"ID": "ID", "TITLE": "Name", "DESCRIPTION": "Description", "PRIORITY": "Priority",
                "STATUS": "Status", "RESPONSIBLE_ID": "Assignee", "CREATED_BY": "Created by",
                "GROUP_ID": "Project", "DEADLINE": "Deadline", "CREATED_DATE": "Created on",
                "CHANGED_DATE": "Modified on", "CLOSED_DATE": "Completed on"}


@REGISTRY.method("tasks.task.getFields", scope="task", style="controller")
def tasks_task_getfields(call: Call) -> Any:
    out: dict[str, Any] = {}
    for _, upper, _, typ in TASK_COLUMNS:
        d: dict[str, Any] = {"title": _TASK_TITLES.get(upper, upper), "type": typ}
        if upper == "ID":
            d["primary"] = True
        if upper in _TASK_ENUMS:
            d.update(type="enum", values=_TASK_ENUMS[upper])
        if upper == "TITLE":
            d["required"] = True
        out[upper] = d
    out["TAGS"] = {"title": "Tags", "type": "array"}
    return {"fields": out}


def render_v2(row: Any, select: set[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col, upper, camel, _ in TASK_COLUMNS:
        if select is not None and upper != "ID" and upper not in select:
            continue
        v = row[col]
        out[camel] = str(v) if isinstance(v, int) else v
    if select is None or "TAGS" in select:
        out["tags"] = json.loads(row["tags"] or "[]")
    if select is None:
        out["group"] = []
    return out


def _v2_select(call: Call) -> set[str] | None:
    sel = [str(s).upper() for s in as_list(call.params.get("select")) if not isinstance(s, (dict, list))]
    return None if (not sel or "*" in sel) else set(sel)


def _v2_fields(call: Call) -> dict[str, Any]:
    data = call.require("fields")
    if not isinstance(data, dict):
        raise RestError("ERROR_CORE", "Fields must be an array", 400)
    return {_WRITABLE_V2[k.upper()]: v for k, v in data.items() if str(k).upper() in _WRITABLE_V2}


@REGISTRY.method("tasks.task.add", scope="task", style="controller")
def task_add(call: Call) -> Any:
    vals = _v2_fields(call)
    if not vals.get("title"):
        raise RestError("ERROR_CORE", "Task title is not specified", 400)
    id_ = _write(call, vals, None)
    return {"task": render_v2(_fetch(call, id_), None)}


@REGISTRY.method("tasks.task.get", scope="task", style="controller")
def task_get(call: Call) -> Any:
    id_ = call.int_param("taskId")
    row = _fetch(call, id_)
    if row is None:
        raise _task_err()
    return {"task": render_v2(row, _v2_select(call))}


@REGISTRY.method("tasks.task.update", scope="task", style="controller")
def task_update(call: Call) -> Any:
    id_ = call.int_param("taskId")
    vals = _v2_fields(call)
    if _fetch(call, id_) is None:
        raise _task_err()
    _write(call, vals, id_)
    return {"task": render_v2(_fetch(call, id_), None)}


@REGISTRY.method("tasks.task.delete", scope="task", style="controller")
def task_delete(call: Call) -> Any:
    id_ = call.int_param("taskId")
    cur = call.store.execute("DELETE FROM tasks WHERE id=?", (id_,))
    if cur.rowcount == 0:
        raise _task_err()
    call.wrote("tasks", "TASK_DELETE", "tasks", id_, created=False)
    return {"task": True}


@REGISTRY.method("tasks.task.list", scope="task", style="controller")
def task_list(call: Call) -> Any:
    filt = call.params.get("filter")
    where, args = compile_v2(filt if isinstance(filt, dict) else {}, _BY_UPPER.get, upper=True)
    order = call.params.get("order")
    parts = []
    if isinstance(order, dict):
        for k, d in order.items():
            r = _BY_UPPER.get(str(k).upper())
            if r is None:
                raise RestError("0", "Invalid sorting key (internal error)", 400)
            parts.append(f"{r[0]} {'DESC' if str(d).upper() == 'DESC' else 'ASC'}")
    order_sql = ", ".join(parts) if parts else "id DESC"
    rows, nxt, total, counted = run_list(call, table="tasks", where=where, args=args,
                                         order=order_sql, controller=True)
    sel = _v2_select(call)
    return list_reply(call, {"tasks": [render_v2(r, sel) for r in rows]}, nxt, total, counted,
                      controller=True)


# ================================================================ v3

_V3_FIELDS = {"id": ("id", "integer"), "title": ("title", "string"),
              "description": ("description", "string"), "status": ("status", "integer"),
              "priority": ("priority", "integer"), "creatorId": ("created_by", "integer"),
              "responsibleId": ("responsible_id", "integer"), "groupId": ("group_id", "integer"),
              "deadline": ("deadline", "datetime"), "createdDate": ("created_date", "datetime"),
              "changedDate": ("changed_date", "datetime"), "closedDate": ("closed_date", "datetime")}
_USER_DTO = {"id": "id", "name": "name", "lastName": "last_name", "secondName": "second_name",
             "email": "email", "workPosition": "work_position"}
_RELATIONS = {"creator": ("UserDto", set(_USER_DTO)), "responsible": ("UserDto", set(_USER_DTO))}
_REL_COL = {"creator": "created_by", "responsible": "responsible_id"}
_WRITABLE_V3 = {"title", "description", "status", "priority", "creatorId", "responsibleId",
                "groupId", "deadline"}


def render_v3(call: Call, row: Any, fields: list[str], rels: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        out[f] = row[_V3_FIELDS[f][0]]
    for rel, subs in rels.items():
        u = call.store.one("SELECT * FROM users WHERE id=?", (row[_REL_COL[rel]],))
        out[rel] = None if u is None else {s: u[_USER_DTO[s]] for s in subs}
    return out


def _v3_values(call: Call) -> dict[str, Any]:
    data = call.params.get("fields")
    if not isinstance(data, dict):
        raise V3Error("VALIDATION_REQUESTVALIDATIONEXCEPTION", "Required field `fields` is not specified",
                      400, [{"field": "fields", "message": "Required field `fields` is not specified"}])
    vals = {}
    for k, v in data.items():
        if k not in _WRITABLE_V3:
            continue
        col, typ = _V3_FIELDS[k]
        if typ == "integer" and v is not None and (isinstance(v, bool) or as_int(v) is None):
            raise V3Error("VALIDATION_DTOVALIDATIONEXCEPTION", f"Field `{k}` must be of type int", 400,
                          [{"field": k, "message": f"Field `{k}` must be of type int"}])
        vals[col] = v
    return vals


def _v3_nf(id_: int) -> V3Error:
    return V3Error("ENTITYNOTFOUNDEXCEPTION", f"Record with ID = `{id_}` not found")


@REGISTRY.method("tasks.task.get", scope="task", api="v3", description="Get a task")
def v3_task_get(call: Call) -> Any:
    id_ = v3_int(call, "id")
    fields, rels = v3_select(call, set(_V3_FIELDS), _RELATIONS, list(_V3_FIELDS))
    row = _fetch(call, id_)
    if row is None:
        raise _v3_nf(id_)
    return {"item": render_v3(call, row, fields, rels)}


@REGISTRY.method("tasks.task.list", scope="task", api="v3", description="List tasks")
def v3_task_list(call: Call) -> Any:
    fields, rels = v3_select(call, set(_V3_FIELDS), _RELATIONS, ["id"])
    where, args = compile_v3(call.params.get("filter"), _V3_FIELDS.get, "TaskDto")
    order = v3_order(call, _V3_FIELDS.get)
    limit, offset = v3_pagination(call, cap=50)     # tasks.task.list silently caps at 50
    rows = call.store.query(f"SELECT * FROM tasks WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                            [*args, limit, offset])
    call.rows(len(rows))
    return {"items": [render_v3(call, r, fields, rels) for r in rows]}


@REGISTRY.method("tasks.task.add", scope="task", api="v3", description="Create a task")
def v3_task_add(call: Call) -> Any:
    vals = _v3_values(call)
    if not vals.get("title"):
        raise V3Error("VALIDATION_DTOVALIDATIONEXCEPTION", "Field `title` is required", 400,
                      [{"field": "title", "message": "Field `title` is required"}])
    id_ = _write(call, vals, None)
    return {"item": render_v3(call, _fetch(call, id_), list(_V3_FIELDS), {})}


@REGISTRY.method("tasks.task.update", scope="task", api="v3", description="Update a task")
def v3_task_update(call: Call) -> Any:
    id_ = v3_int(call, "id")
    vals = _v3_values(call)
    if _fetch(call, id_) is None:
        raise _v3_nf(id_)
    _write(call, vals, id_)
    return {"result": True}


@REGISTRY.method("tasks.task.delete", scope="task", api="v3", description="Delete a task")
def v3_task_delete(call: Call) -> Any:
    id_ = v3_int(call, "id")
    cur = call.store.execute("DELETE FROM tasks WHERE id=?", (id_,))
    if cur.rowcount == 0:
        raise _v3_nf(id_)
    call.wrote("tasks", "TASK_DELETE", "tasks", id_, created=False)
    return {"result": True}
