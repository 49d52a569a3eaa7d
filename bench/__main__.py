"""``python -m bench [--quick] [--only percall,list,instr,threads,async,decode,export,memory,planner,writes] [--writes-n N] [--out FILE]``

Runs the four workloads of docs/benchmarks.md and writes the report and charts.
``make bench`` runs the full set (about 20-30 minutes), ``make bench-quick`` the
quick one (under two minutes; smaller counts, fewer repetitions). The raw
measurements are kept in ``.cache/bench/results-<mode>.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from . import contestants as C
from . import env, servers
from .env import log

MODES: dict[str, dict[str, Any]] = {
    "quick": {
        "percall_n": 500, "percall_reps": 3, "threads_n": 800, "threads_reps": 3,
        "async_n": 1000, "async_reps": 3,
        # export under the limits: one-request-per-page walkers get 60 requests (burst 50 + 5 s)
        "export_rows": 3000, "export_rows_walk": 3000, "export_timeout": 60,
        "memory_rows": 50_000, "memory_rows_slow": 50_000, "memory_timeout": 90,
    },
    "full": {
        "percall_n": 5000, "percall_reps": 5, "threads_n": 5000, "threads_reps": 5,
        "async_n": 10_000, "async_reps": 5,
        "export_rows": 100_000, "export_rows_walk": 10_000, "export_timeout": 300,
        "memory_rows": 1_000_000, "memory_rows_slow": 200_000, "memory_timeout": 420,
    },
}
BURST, DRAIN, PAGE, BATCH = 50, 2.0, 50, 50
ONE_PER_PAGE = {"b24hook-fetch_list", "b24hook-loop", "js-callList"}
OFFSET_PAGING = {"fast_bitrix24"}   # counted start= offsets: the server's COUNT + OFFSET grow with the table


def _med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _rotate(items: list[Any], r: int) -> list[Any]:
    k = r % len(items)
    return items[k:] + items[:k]


# --------------------------------------------------------------------------- workload 1


def percall(cfg: dict[str, Any], skip: dict[str, str], threads: int, listing: bool = False) -> dict[str, Any]:
    """Workload 1: sequential (or threaded) calls of server.time, or (``listing``)
    of the static 50-row crm.item.list page, by every contestant of the workload."""
    n = cfg["percall_n"] if threads == 1 else cfg["threads_n"]
    reps = cfg["percall_reps"] if threads == 1 else cfg["threads_reps"]
    who = [c for c in C.PERCALL if (threads == 1 or c.key in C.THREADED) and (not listing or c.key in C.LIST)]
    call = ({"method": servers.LIST_METHOD, "params": servers.LIST_PARAMS} if listing
            else {"method": "server.time", "params": None})
    who = [c for c in who if not (c.kind == "js" and "js" in skip)]
    runs: dict[str, list[dict[str, Any]]] = {c.key: [] for c in who}
    errors: dict[str, str] = {}
    with servers.StaticTLS() as srv:
        for r in range(reps):           # round robin, order rotated each repetition
            for c in _rotate(who, r):
                res = C.run(c, {"task": "percall", "url": srv.v2_url, "ca": srv.ca_path, "n": n,
                                "threads": threads, **call}, timeout=300)
                if "error" in res or res.get("ok") != n:
                    errors[c.key] = res.get("error") or f"{res.get('ok')} of {n} calls succeeded"
                    continue
                runs[c.key].append(res)
            log(f"per-call{' list page' if listing else ''} x{threads}: repetition {r + 1}/{reps} done")
    rows = _call_rows(who, runs, errors)
    out = {"n": n, "reps": reps, "threads": threads, "rows": rows, "skipped": {k: v for k, v in skip.items()},
           "method": call["method"], "params": call["params"]}
    if listing:
        page = servers.list_page()
        out["page_bytes"], out["page_rows"] = len(page), servers.LIST_ROWS
    return out


def _call_rows(who: list[C.Contestant], runs: dict[str, list[dict[str, Any]]],
               errors: dict[str, str]) -> dict[str, Any]:
    """The medians of each contestant's runs of a calls workload."""
    rows: dict[str, Any] = {}
    for c in who:
        rs = runs[c.key]
        if not rs:
            rows[c.key] = {"label": c.label, "error": errors.get(c.key, "no run")}
            continue
        rows[c.key] = {
            "label": c.label, "runs": len(rs),
            "calls_per_s": _med([x["calls"] / x["wall"] for x in rs]),
            "cpu_us_per_call": _med([x["cpu"] / x["calls"] * 1e6 for x in rs]),
            "wall_us_per_call": _med([x["wall"] / x["calls"] * 1e6 for x in rs]),
            "all_calls_per_s": [x["calls"] / x["wall"] for x in rs],
            "all_cpu_us_per_call": [x["cpu"] / x["calls"] * 1e6 for x in rs],
        }
    for k in runs:
        if k in errors and k in rows and "error" not in rows[k]:
            rows[k]["note"] = errors[k]
    return rows


# --------------------------------------------------------------------------- workload 1c


def async_calls(cfg: dict[str, Any], skip: dict[str, str]) -> dict[str, Any]:
    """Workload 1c: ``async_n`` server.time calls with ``ASYNC_CONCURRENCY`` in flight
    on one client of an async contestant (b24hook ``AsyncB24Hook``, fast_bitrix24's
    ``BitrixAsync``, the JS SDK with ``Promise.all``)."""
    n, reps = cfg["async_n"], cfg["async_reps"]
    who = [c for c in C.ASYNC if not (c.kind == "js" and "js" in skip)]
    runs: dict[str, list[dict[str, Any]]] = {c.key: [] for c in who}
    errors: dict[str, str] = {}
    with servers.StaticTLS() as srv:
        for r in range(reps):
            for c in _rotate(who, r):
                spec = {"task": "percall" if c.kind == "js" else "async", "url": srv.v2_url,
                        "ca": srv.ca_path, "n": n, "threads": C.ASYNC_CONCURRENCY,
                        "concurrency": C.ASYNC_CONCURRENCY, "method": "server.time", "params": None}
                res = C.run(c, spec, timeout=300)
                if "error" in res or res.get("ok") != n:
                    errors[c.key] = res.get("error") or f"{res.get('ok')} of {n} calls succeeded"
                    continue
                runs[c.key].append(res)
            log(f"async x{C.ASYNC_CONCURRENCY}: repetition {r + 1}/{reps} done")
    return {"n": n, "reps": reps, "concurrency": C.ASYNC_CONCURRENCY,
            "rows": _call_rows(who, runs, errors), "method": "server.time"}


# --------------------------------------------------------------------------- workload 3


def _requests_needed(rows: int, per_request: int) -> int:
    return max(1, math.ceil(rows / per_request)) + (1 if rows % per_request == 0 else 0)


def _forced_wait(requests: int) -> float:
    return max(0.0, requests - BURST) / DRAIN


def _export_once(c: C.Contestant, portal: Any, n: int, cfg: dict[str, Any], limits_note: str | None) -> dict[str, Any]:
    servers.set_limits(portal, not limits_note)
    servers.quiet(portal)
    res = C.run(c, {"task": "export", "url": portal.v2_url, "ca": portal.ca_path, "max_id": n,
                    "limits": True}, timeout=cfg["export_timeout"])
    res.update(servers.counters(portal))
    return res


def export(cfg: dict[str, Any], skip: dict[str, str], portal: Any) -> dict[str, Any]:
    rows_full, rows_walk = cfg["export_rows"], cfg["export_rows_walk"]
    limits_note = servers.set_limits(portal, True)
    out: dict[str, Any] = {"rows": rows_full, "rows_walk": rows_walk, "limits": limits_note or "on",
                           "standard": servers.STANDARD_LIMITS, "contestants": {}}
    batched_req = _requests_needed(rows_full, PAGE * BATCH)
    walk_req = _requests_needed(rows_full, PAGE)
    out["floor"] = {"batched_requests": batched_req, "batched_wait_s": _forced_wait(batched_req),
                    "walk_requests": walk_req, "walk_wait_s": _forced_wait(walk_req)}
    for c in C.export_contestants():
        if c.kind == "js" and "js" in skip:
            out["contestants"][c.key] = {"label": c.label, "error": skip["js"]}
            continue
        n = rows_walk if c.key in ONE_PER_PAGE else rows_full
        t = time.monotonic()
        res = _export_once(c, portal, n, cfg, limits_note)
        if "error" in res and c.key in OFFSET_PAGING and n > rows_walk:
            # counted offset pages in parallel batches: when the full count fails, measure the
            # smaller count and extrapolate like the walkers (labelled)
            first = res
            n = rows_walk
            res = _export_once(c, portal, n, cfg, limits_note)
            res["note"] = (f"{rows_full:,} rows failed ({first['error'][-160:]}; {first['requests']} requests, "
                           f"{first['503']} 503s, {first['429']} 429s); measured on {n:,} rows")
        res["label"], res["target_rows"] = c.label, n
        res["elapsed_incl_start"] = time.monotonic() - t
        if "error" not in res:
            if res["rows"] != n:
                res["note"] = f"returned {res['rows']} rows of {n}"
            res["rows_per_s"] = res["rows"] / res["wall"]
            if n < rows_full and c.key in ONE_PER_PAGE:
                # one request per 50 rows: after the burst the bucket drains 2 requests/s,
                # so every further request costs 1/DRAIN s (explicit, labelled extrapolation)
                extra = _requests_needed(rows_full, PAGE) - _requests_needed(n, PAGE)
                res["extrapolated_wall"] = res["wall"] + extra / DRAIN
                res["extrapolated_requests"] = _requests_needed(rows_full, PAGE)
        out["contestants"][c.key] = res
        log(f"export {c.key}: {res.get('rows', '-')} rows in {res.get('wall', float('nan')):.1f} s, "
            f"{res['requests']} requests, 503s {res['503']}, 429s {res['429']} {res.get('error', '')}")
    servers.set_limits(portal, False)
    return out


# --------------------------------------------------------------------------- workload 4


def memory(cfg: dict[str, Any], skip: dict[str, str], portal: Any) -> dict[str, Any]:
    rows_full = cfg["memory_rows"]
    servers.set_limits(portal, False)
    plain = "b24hook-fetch_list" if C.has_action("fetch_list") else "b24hook-loop"
    who = [
        (C.Contestant(plain, "b24hook streaming (" + ("fetch_list" if plain.endswith("list") else
                      "call.make keyset loop; fetch_list not landed") + ")", "py", plain), False),
        (C.Contestant(plain, "b24hook collected into a list", "py", plain), True),
        *([(C.Contestant("b24hook-fast", "b24hook fast export streaming (`fetch_list(fast=True)`)", "py",
                         "b24hook-fast"), False)] if C.fast_export_entry() else []),
        (C.Contestant("js-callList", "JS SDK `callList` (Node)", "js", "callList"), True),
        (C.Contestant("b24pysdk", "b24pysdk `list(as_list_fast)`", "py", "b24pysdk"), True),
        (C.Contestant("fast_bitrix24", "fast_bitrix24 `get_all`", "py", "fast_bitrix24"), True),
    ]
    out: dict[str, Any] = {"rows": rows_full, "contestants": {}}
    for c, collect in who:
        key = c.key + ("-list" if collect and c.key.startswith("b24hook") else "")
        if c.kind == "js" and "js" in skip:
            out["contestants"][key] = {"label": c.label, "error": skip["js"]}
            continue
        n = cfg["memory_rows_slow"] if c.key in OFFSET_PAGING else rows_full
        servers.quiet(portal)
        res = C.run(c, {"task": "export", "url": portal.v2_url, "ca": portal.ca_path, "max_id": n,
                        "collect": collect, "limits": False}, timeout=cfg["memory_timeout"])
        res.update(servers.counters(portal))
        res["label"], res["target_rows"], res["collect"] = c.label, n, collect
        if "error" not in res:
            res["growth_mb"] = (res["rss_kb"] - res["rss0_kb"]) / 1024
            res["peak_mb"] = res["rss_kb"] / 1024
            res["rows_per_s"] = res["rows"] / res["wall"]
        out["contestants"][key] = res
        log(f"memory {key}: {res.get('rows', '-')} rows, peak {res.get('peak_mb', 0):.0f} MB, "
            f"growth {res.get('growth_mb', 0):.1f} MB {res.get('error', '')}")
    return out


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small counts, fewer repetitions (< 2 minutes)")
    ap.add_argument("--only", default="percall,list,instr,threads,async,decode,export,memory,planner",
                    help="workloads; 'planner' includes the write job, 'writes' runs the write job alone")
    ap.add_argument("--writes-n", type=int, default=None,
                    help="crm.item.add per contestant of the write job (default 10,000; 300 with --quick)")
    ap.add_argument("--percall-n", type=int, default=None, help="calls per run of workload 1 (overrides the mode)")
    ap.add_argument("--percall-reps", type=int, default=None, help="runs per contestant of workload 1")
    ap.add_argument("--out", default=None,
                    help="the report (charts go to <dir of out>/benchmarks/); default docs/benchmarks.md"
                         " for the full run of every workload, .cache/bench/benchmarks-<mode>.md otherwise")
    ap.add_argument("--results", default=None, help="raw JSON results (default .cache/bench/results-<mode>.json)")
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "full"
    cfg = dict(MODES[mode])
    if args.percall_n:
        cfg["percall_n"] = args.percall_n
    if args.percall_reps:
        cfg["percall_reps"] = args.percall_reps
    only = set(args.only.split(","))
    if args.out is None:  # a subset or a quick run never replaces the published report
        whole = mode == "full" and only >= set(ap.get_default("only").split(","))
        args.out = str(env.REPO / "docs" / "benchmarks.md" if whole else env.CACHE / f"benchmarks-{mode}.md")
    t0 = time.monotonic()
    skip = env.setup_all()
    for k, v in skip.items():
        log(f"skipping {k}: {v}")
    results: dict[str, Any] = {"mode": mode, "config": cfg, "machine": env.machine(), "skipped": skip}
    if "percall" in only:
        results["percall"] = percall(cfg, skip, 1)
    if "list" in only:
        results["list"] = percall(cfg, skip, 1, listing=True)
    if "instr" in only:
        from . import instr

        results["instr"] = instr.run(args.quick)
    if "threads" in only:
        results["threads"] = percall(cfg, skip, 8)
    if "async" in only:
        results["async"] = async_calls(cfg, skip)
    if "decode" in only:
        from . import decode

        results["decode"] = decode.run(args.quick)
        log("decode done")
    # a fresh emulator per workload: a peer that gave up may leave work in flight
    # (and operating seconds in the ledger) behind
    for name, fn, rows in (("export", export, cfg["export_rows"]), ("memory", memory, cfg["memory_rows"])):
        if name in only:
            portal = servers.emulator(rows)
            try:
                results[name] = fn(cfg, skip, portal)
            finally:
                portal.stop()
    if "planner" in only or "writes" in only:
        from . import planner

        results["planner"] = planner.run(args.quick, writes_n=args.writes_n,
                                         only=None if "planner" in only else {"writes"})
    results["duration_s"] = time.monotonic() - t0
    res_path = Path(args.results) if args.results else env.CACHE / f"results-{mode}.json"
    res_path.write_text(json.dumps(results, indent=1, default=str))
    from . import report

    report.write(results, Path(args.out))
    log(f"done in {results['duration_s']:.0f} s: {args.out} (raw: {res_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
