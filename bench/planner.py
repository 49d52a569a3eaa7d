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
* ``writes-documented`` / ``writes-observed``: N ``crm.item.add`` (contacts) through each
  client's batch write path, ``ADD_S`` portal seconds per add, both batch-billing modes;
  items written and duplicates are counted in the emulator's store after each run
  (N = 10,000 in ``make bench``, ``--writes-n`` to choose, 300 with ``--quick``).
* ``resume``: the ``fast`` table, the b24hook process killed at 50 % (``os._exit``), then
  resumed from its checkpoint file: rows read in total / rows in the table.
"""
from __future__ import annotations

import math
import os
import tempfile
import time
from typing import Any

from . import contestants as C
from . import servers
from .env import log

SIZES: dict[str, dict[str, Any]] = {
    "quick": {"fast_rows": 5000, "budget_rows": 20_000, "budget_limit": 30.0, "budget_scale": 100.0,
              "timeout": 240, "writes_n": 300},
    "full": {"fast_rows": 20_000, "budget_rows": 500_000, "budget_limit": 480.0, "budget_scale": 10.0,
             "timeout": 900, "writes_n": 10_000},
}
BURST, PAGE = 50, 50
ROW_COST = 0.0002          # the emulator's simulated seconds per row returned

PEERS = [
    C.Contestant("fast_bitrix24", "fast_bitrix24 `get_all`", "py", "fast_bitrix24"),
    C.Contestant("b24pysdk", "b24pysdk `as_list_fast`", "py", "b24pysdk"),
]
ADD_S = 0.02               # the emulator's server time per crm.item.add (portal seconds)
WRITERS = [
    C.Contestant("b24hook", "b24hook `batch_by_chunk` (sync)", "py", "b24hook-batch_by_chunk"),
    C.Contestant("fast_bitrix24", "fast_bitrix24 `call('crm.item.add', [...])`", "py", "fast_bitrix24"),
    C.Contestant("b24pysdk", "b24pysdk `call_batches([crm.item.add ...])`", "py", "b24pysdk"),
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
    # what can be reached without going over: any ten one-minute baskets hold at most one
    # budget, so the work needs ceil(total / limit) windows, the last one started
    # (docs/decisions.md "The budget-bound export is measured against the reachable floor")
    reachable = (math.ceil(total / limit) - 1) * 600.0 / scale
    out: dict[str, Any] = {"rows": n, "page_s": page_s, "time_scale": scale, "limit_s": limit, "billing": billing,
                           "server_s": total, "floor_s": floor_portal / scale, "reachable_s": reachable,
                           "contestants": {}}
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


def _written(portal: Any, tag: str) -> tuple[int, int]:
    """(rows, distinct names) of contacts named ``<tag>:<i>`` in the emulator's store."""
    st = portal.store
    with st.lock:
        row = st.conn.execute("SELECT COUNT(*), COUNT(DISTINCT name) FROM crm_item "
                              "WHERE entity_type_id = ? AND name LIKE ?", (3, tag + ":%")).fetchone()
    return int(row[0]), int(row[1])


def write_floor(n: int) -> float:
    """The bucket's floor for ``n`` adds (a batch's sub-calls run one after another): within
    one burst (``BURST - 1`` requests, one token kept) the adds spread over all of them;
    past it, full 50-add batches, the later ones admitted at 2 per second."""
    streams = BURST - 1
    if n <= streams * PAGE:
        return math.ceil(n / streams) * ADD_S
    return (math.ceil(n / PAGE) - streams) / 2 + PAGE * ADD_S


def _settle(portal: Any, limit: float = 60.0) -> None:
    deadline, last = time.monotonic() + limit, -1
    while time.monotonic() < deadline and portal.stats().get("total", 0) != last:
        last = portal.stats().get("total", 0)
        time.sleep(1.0)


def writes(portal: Any, n: int, billing: str, timeout: float) -> dict[str, Any]:
    portal.configure(rate_limit=(BURST, 2), operating_limit=480.0, sleep_simulated_cost=True, time_scale=1.0,
                     batch_billing=billing, exec_time_per_call={"crm.item.add": ADD_S})
    out: dict[str, Any] = {"n": n, "add_s": ADD_S, "billing": billing, "server_s": n * ADD_S,
                           "floor_s": write_floor(n), "contestants": {}}
    for c in WRITERS:
        servers.quiet(portal)
        tag = f"wbench-{billing}-{c.key}"
        res = C.run(c, {"task": "writes", "url": portal.v2_url, "ca": portal.ca_path, "limits": True,
                        "n": n, "tag": tag}, timeout=timeout)
        if "error" in res:
            _settle(portal)       # a peer cut off may leave batches in flight: count what they wrote
        st = portal.stats()
        res.update(servers.counters(portal))
        res["refused_subcalls"] = int(st.get("operation_time_limit", 0))
        res["written"], distinct = _written(portal, tag)
        res["duplicates"] = res["written"] - distinct
        res["label"] = c.label
        out["contestants"][c.key] = res
        log(f"planner writes/{billing} {c.key}: {res['written']} written ({res['duplicates']} twice) in "
            f"{res.get('wall', float('nan')):.2f} s, {res['requests']} requests, 503 {res['503']}, "
            f"429 {res['429']}, refused sub-calls {res['refused_subcalls']} {res.get('error', '')}")
    return out


def run(quick: bool, writes_n: int | None = None, only: set[str] | None = None) -> dict[str, Any]:
    """``only``: scenarios to run (``fast``, ``resume``, ``budget``, ``writes``; default all)."""
    cfg = SIZES["quick" if quick else "full"]
    want = only or {"fast", "resume", "budget", "writes"}
    out: dict[str, Any] = {}
    if want & {"fast", "resume", "budget"}:
        portal = servers.emulator(max(cfg["fast_rows"], cfg["budget_rows"]))
        try:
            if "fast" in want:
                out["fast"] = fast(portal, cfg)
            if "resume" in want:
                out["resume"] = resume(portal, cfg)
            if "budget" in want:
                for billing in ("documented", "observed"):
                    out[f"budget-{billing}"] = budget(portal, cfg, billing)
        finally:
            portal.stop()
    if "writes" in want:
        # a fresh, empty emulator: the store's count is the job's
        portal = servers.emulator(0)
        try:
            for billing in ("documented", "observed"):
                out[f"writes-{billing}"] = writes(portal, writes_n or cfg["writes_n"], billing, cfg["timeout"])
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
              f"{b['time_scale']:.0f}x; the issue's floor (total - one budget) / budget x window = "
              f"{b['floor_s']:.1f} s real; the reachable floor (ceil(total / budget) - 1 windows: ten one-minute "
              f"baskets never hold more than one budget, docs/decisions.md) = {b.get('reachable_s', 0.0):.1f} s real.", "",
              "| client | wall s | × floor | requests | 503 | 429 | refused sub-calls | once | × reachable floor |",
              "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
        for r in b["contestants"].values():
            reach = b.get("reachable_s") or 0.0
            tail = f" {r['wall'] / reach:.2f} |" if "error" not in r and reach > 0 else " |"
            L.append(_row(r, b["floor_s"], refused=True) + tail)
    for billing in ("documented", "observed"):
        wr = w.get(f"writes-{billing}")
        if not wr:
            continue
        L += ["", f"**Write job, {billing} billing**: {wr['n']:,} `crm.item.add` (contacts) at "
              f"{wr['add_s'] * 1000:.0f} ms of server time per add ({wr['server_s']:,.0f} s in all, under the "
              f"480 s / 600 s budget); floor (bucket: the adds over {BURST - 1} requests at once, past that 50-add batches at 2/s) = "
              f"{wr['floor_s']:.2f} s. *written* = items in the emulator's store after the run.", "",
              "| client | wall s | × floor | requests | 503 | 429 | refused sub-calls | written | duplicates |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for c in wr["contestants"].values():
            wall = (f"{c['wall']:.2f} | {c['wall'] / wr['floor_s']:.2f}" if "error" not in c
                    else f"failed: {str(c['error'])[-120:]} | ")
            L.append(f"| {c['label']} | {wall} | {c['requests']} | {c['503']} | {c['429']} | "
                     f"{c['refused_subcalls']} | {c['written']:,} | {c['duplicates']:,} |")
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
