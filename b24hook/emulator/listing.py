"""List paging shared by v2 list methods (§6.1)."""
from __future__ import annotations

import re
from typing import Any

from .registry import Call, Reply

PAGE = 50  # IRestService::LIST_LIMIT
_INTVAL = re.compile(r"^\s*([+-]?\d+)")


def php_intval(v: Any) -> int:
    if v is None or isinstance(v, (dict, list)):
        return 0
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)):
        return int(v)
    m = _INTVAL.match(str(v))
    return int(m.group(1)) if m else 0


def page_plan(call: Call, *, controller: bool) -> tuple[int, bool]:
    """-> (offset, count).  Controller methods switch counting off only for
    exactly -1 (-2 behaves like 0); classic ones for any negative value."""
    start = php_intval(call.start) if call.start not in (None, "") else 0
    if start < 0:
        if controller and start != -1:
            start = 0
        else:
            return 0, False
    if call.portal.settings.start_rounding:
        start = start // PAGE * PAGE
    return start, True


def run_list(call: Call, *, table: str, where: str, args: list[Any], order: str,
             controller: bool, page_size: int = PAGE) -> tuple[list[Any], int | None, int | None, bool]:
    """Runs COUNT (only when counting) and the page query.

    -> (rows, next, total, counted).  The simulated cost makes counting
    expensive, as on a real portal (portal.md §6.4)."""
    offset, count = page_plan(call, controller=controller)
    s = call.portal.settings
    store = call.store
    total = None
    if count:
        total = store.one_row(f"SELECT COUNT(*) FROM {table} WHERE {where}", args)[0]
        call.cost += total * s.count_cost_per_row
    rows = store.query(f"SELECT * FROM {table} WHERE {where} ORDER BY {order} "
                       f"LIMIT ? OFFSET ?", [*args, page_size, offset])
    call.rows(len(rows))
    nxt = None
    if total is not None and offset + len(rows) < total:   # total is set when counting
        nxt = offset + len(rows)
    return rows, nxt, total, count


def list_reply(call: Call, payload: Any, nxt: int | None, total: int | None,
               counted: bool, *, controller: bool) -> Reply:
    if not counted:
        return Reply(payload, None, None if controller else 0)
    return Reply(payload, nxt, total)
