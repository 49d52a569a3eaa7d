"""Workload 5 (issue 12): the planned export with real server time, against the peers.

``python -m bench --only planner`` (part of ``make bench``; ``--quick`` runs small
sizes). The emulator sleeps its server time (``sleep_simulated_cost``): ``page_s``
portal seconds per 50-row ``crm.item.list`` page, a batch's commands one after
another, parallel requests in parallel; standard limits (bucket 50, 2/s; 480 s of
operating time per method per 600 s).

Scenarios:

* ``fast``: 20,000 contacts, ``select: ["*"]``, 100 ms per page; the planner's floor is
  the probe (2 pages) plus one round of ``ceil(pages / (burst - 1 - reserve))`` pages.
* ``budget-documented`` / ``budget-observed``: 500,000 rows at 150 ms per page on a clock
  10x faster (``time_scale``): 1,500 s of server time against 480 s per 600 s; the floor
  is ``(total - 480) / 480 x 600`` portal seconds.
* ``resume``: the ``fast`` table, the b24hook process killed at 50 % (``os._exit``), then
  resumed from its checkpoint file: rows read in total / rows in the table.
"""
from __future__ import annotations

import math
import os
import tempfile
from typing import Any

from . import contestants as C
from . import servers
from .env import log

SIZES: dict[str, dict[str, Any]] = {
    "quick": {"fast_rows": 5000, "budget_rows": 20_000, "budget_limit": 30.0, "budget_scale": 100.0,
              "timeout": 240},
    "full": {"fast_rows": 20_000, "budget_rows": 500_000, "budget_limit": 480.0, "budget_scale": 10.0,
             "timeout": 900},
}
BURST, PAGE = 50, 50
ROW_COST = 0.0002          # the emulator's simulated seconds per row returned

PEERS = [
    C.Contestant("fast_bitrix24", "fast_bitrix24 `get_all`", "py", "fast_bitrix24"),
    C.Contestant("b24pysdk", "b24pysdk `as_list_fast`", "py", "b24pysdk"),
]
PLANNED = C.Contestant("b24hook-planned", "b24hook `fetch_list(fast=True)` (planner)", "py", "b24hook-planned")


def _configure(portal: Any, page_s: float, scale: float, limit: float, billing: str) -> None:
    portal.configure(rate_limit=(BURST, 2), operating_limit=limit, sleep_simulated_cost=True,
                     time_scale=scale, batch_billing=billing,
                     exec_time_per_call={"crm.item.list": max(0.0, page_s - PAGE * ROW_COST)})


def _run(c: C.Contestant, portal: Any, rows: int, timeout: float, select: list[str],
         limit: float, **extra: Any) -> dict[str, Any]:
    servers.quiet(portal)
    spec = {"task": "export", "url": portal.v2_url, "ca": portal.ca_path, "max_id": rows, "limits": True,
            "collect": True, "select": select, **extra}
    if c.client == "b24hook-planned":
        # the client knows the portal's budget (the standard one unless the bench scales it)
        spec["limits"] = True
    res = C.run(c, spec, timeout=timeout)
    st = portal.stats()
    res.update(servers.counters(portal))
    res["refused_subcalls"] = int(st.get("operation_time_limit", 0))
    res["label"] = c.label
    if "error" not in res:
        res["exactly_once"] = res.get("rows") == rows and res.get("distinct") == rows
    return res


def fast(portal: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    n, page_s = cfg["fast_rows"], 0.1
    _configure(portal, page_s, 1.0, 480.0, "documented")
    pages = math.ceil(n / PAGE)
    streams = BURST - 1 - max(2, round(BURST * 0.1))
    floor = 2 * page_s + math.ceil((pages - 1) / streams) * page_s
    out: dict[str, Any] = {"rows": n, "page_s": page_s, "floor_s": floor, "contestants": {}}
    who = [(PLANNED, {}), (C.Contestant("b24hook-planned-4", "b24hook `fast=True, shards=4`", "py",
                                        "b24hook-planned"), {"shards": 4}), *[(p, {}) for p in PEERS]]
    for c, extra in who:
        res = _run(c, portal, n, cfg["timeout"], ["*"], 480.0, **extra)
        out["contestants"][c.key] = res
        log(f"planner fast {c.key}: {res.get('rows', '-')} rows in {res.get('wall', float('nan')):.2f} s, "
            f"{res['requests']} requests, 503 {res['503']}, 429 {res['429']} {res.get('error', '')}")
    return out


def budget(portal: Any, cfg: dict[str, Any], billing: str) -> dict[str, Any]:
    n, page_s, scale, limit = cfg["budget_rows"], 0.15, cfg["budget_scale"], cfg["budget_limit"]
    _configure(portal, page_s, scale, limit, billing)
    total = math.ceil(n / PAGE) * page_s
    floor_portal = max(0.0, (total - limit) / limit * 600.0)
    out: dict[str, Any] = {"rows": n, "page_s": page_s, "time_scale": scale, "limit_s": limit, "billing": billing,
                           "server_s": total, "floor_s": floor_portal / scale, "contestants": {}}
    # three floors: a peer stuck retrying refusals is cut off (fast_bitrix24 ran the 900 s out)
    timeout = 3 * floor_portal / scale + 120
    for c in [PLANNED, *PEERS]:
        extra: dict[str, Any] = {}
        if c.client == "b24hook-planned":
            extra["operating_limit_s"] = limit
        res = _run(c, portal, n, timeout, ["id", "title"], limit, **extra)
        out["contestants"][c.key] = res
        log(f"planner budget/{billing} {c.key}: {res.get('rows', '-')} rows in "
            f"{res.get('wall', float('nan')):.1f} s (floor {out['floor_s']:.1f}), {res['requests']} requests, "
            f"429 {res['429']}, refused sub-calls {res['refused_subcalls']} {res.get('error', '')}")
    return out


def resume(portal: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    n = cfg["fast_rows"]
    _configure(portal, 0.1, 1.0, 480.0, "documented")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "export.json")
        first = _run(PLANNED, portal, n, cfg["timeout"], ["*"], 480.0, resume=path, kill_at=n // 2)
        had = os.path.exists(path)
        second = _run(PLANNED, portal, n, cfg["timeout"], ["*"], 480.0, resume=path)
    read = first.get("rows", 0) + second.get("rows", 0)
    out = {"rows": n, "killed_after": first.get("rows"), "checkpoint_written": had,
           "resumed_rows": second.get("rows"), "read_ratio": read / n, "first": first, "second": second}
    log(f"planner resume: killed after {first.get('rows')} rows, resumed {second.get('rows')} rows, "
        f"read {read / n:.3f}x the table")
    return out


def run(quick: bool) -> dict[str, Any]:
    cfg = SIZES["quick" if quick else "full"]
    out: dict[str, Any] = {}
    portal = servers.emulator(max(cfg["fast_rows"], cfg["budget_rows"]))
    try:
        out["fast"] = fast(portal, cfg)
        out["resume"] = resume(portal, cfg)
        for billing in ("documented", "observed"):
            out[f"budget-{billing}"] = budget(portal, cfg, billing)
    finally:
        portal.stop()
    return out


def table(w: dict[str, Any]) -> list[str]:
    """The markdown of docs/benchmarks.md's section 5."""
    L = ["", "## 5. The planned export (issue 12)", "",
         "Emulator with real server time (sleeps per page; a batch's commands one after another), "
         "standard limits (bucket 50, 2/s; operating budget per method per 600 s). Every contestant "
         "collects the rows; *once* = every row exactly once.", ""]
    f = w.get("fast")
    if f:
        L += [f"**{f['rows']:,} rows at {f['page_s'] * 1000:.0f} ms per page** (`select: [\"*\"]`); "
              f"the planner's floor (probe + one round of batches within the burst): {f['floor_s']:.2f} s.", "",
              "| client | wall s | × floor | requests | 503 | 429 | once |", "|---|---:|---:|---:|---:|---:|---|"]
        for r in f["contestants"].values():
            L.append(_row(r, f["floor_s"]))
    for billing in ("documented", "observed"):
        b = w.get(f"budget-{billing}")
        if not b:
            continue
        L += ["", f"**Budget-bound, {billing} billing**: {b['rows']:,} rows at {b['page_s'] * 1000:.0f} ms per page "
              f"({b['server_s']:,.0f} s of server time) against {b['limit_s']:.0f} s per 600 s, clock "
              f"{b['time_scale']:.0f}x; floor (total - one budget) / budget x window = {b['floor_s']:.1f} s real.", "",
              "| client | wall s | × floor | requests | 503 | 429 | refused sub-calls | once |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
        for r in b["contestants"].values():
            L.append(_row(r, b["floor_s"], refused=True))
    r = w.get("resume")
    if r:
        L += ["", f"**Resume**: killed after {r['killed_after']:,} of {r['rows']:,} rows, resumed from the "
              f"checkpoint file: {r['resumed_rows']:,} rows more; read {r['read_ratio']:.3f}x the table."]
    return L


def _row(r: dict[str, Any], floor: float, refused: bool = False) -> str:
    extra = f" {r.get('refused_subcalls', 0)} |" if refused else ""
    if "error" in r:
        return (f"| {r['label']} | failed: {str(r['error'])[-120:]} | | {r.get('requests', '')} | "
                f"{r.get('503', '')} | {r.get('429', '')} |{extra} no |")
    once = "yes" if r.get("exactly_once") else f"no ({r.get('rows', 0):,} rows, {r.get('distinct') or 0:,} distinct)"
    return (f"| {r['label']} | {r['wall']:.2f} | {r['wall'] / floor:.2f} | {r['requests']} | {r['503']} | "
            f"{r['429']} |{extra} {once} |")
