"""The quick benchmark runs end to end (``python -m bench --quick``), so the bench never rots.

No timing assertions: only that every workload ran and produced numbers for every
contestant that is available on this machine (the JS SDK needs node/npm).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _run_quick(out: Path, *only: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out / "benchmarks.md"),
         "--results", str(out / "results.json"), *(("--only", ",".join(only)) if only else ())],
        cwd=REPO, capture_output=True, text=True, timeout=880,
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every workload but the instruction counts (their own run below: each run
    stays under the suite's faulthandler dump at 280 s)."""
    out = tmp_path_factory.mktemp("bench")
    proc = _run_quick(out, "percall", "list", "threads", "async", "decode", "export", "memory", "planner")
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads((out / "results.json").read_text())
    results["_report"] = (out / "benchmarks.md").read_text()
    results["_charts"] = sorted(p.name for p in (out / "benchmarks").glob("*.png"))
    return results


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and x == x and x > 0


def test_per_call_every_contestant(quick: dict) -> None:
    from bench.contestants import PERCALL, THREADED

    js = "js" not in quick["skipped"]
    for key, threaded in (("percall", False), ("threads", True)):
        rows = quick[key]["rows"]
        want = {c.key for c in PERCALL if (not threaded or c.key in THREADED) and (js or c.kind != "js")}
        assert want <= set(rows), (key, want - set(rows))
        for k in want:
            r = rows[k]
            assert "error" not in r, (key, k, r)
            assert _is_number(r["calls_per_s"]) and _is_number(r["cpu_us_per_call"]), (key, k, r)


def test_list_page_every_contestant(quick: dict) -> None:
    from bench.contestants import LIST, PERCALL

    js = "js" not in quick["skipped"]
    rows = quick["list"]["rows"]
    want = {c.key for c in PERCALL if c.key in LIST and (js or c.kind != "js")}
    assert {"floor", "b24hook", "b24hook-core", "stdlib"} <= want
    assert want <= set(rows), want - set(rows)
    for k in want:
        assert "error" not in rows[k], (k, rows[k])
        assert _is_number(rows[k]["calls_per_s"]) and _is_number(rows[k]["cpu_us_per_call"]), (k, rows[k])
    assert "### A 50-row list page" in quick["_report"] and "stdlib `http.client`" in quick["_report"]


@pytest.fixture(scope="module")
def quick_instr(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench-instr")
    proc = _run_quick(out, "instr")
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads((out / "results.json").read_text())
    results["_report"] = (out / "benchmarks.md").read_text()
    return results


def test_instructions_per_call_every_contestant(quick_instr: dict) -> None:
    """Workload 1d: callgrind counts for the four contestants on both methods,
    each a positive per-call figure, and the report's table and target rows."""
    quick = quick_instr
    w = quick["instr"]
    assert "skipped" not in w, w  # `make test` installs valgrind
    for key in ("floor", "b24hook", "b24hook-core", "stdlib"):
        for method in ("server.time", "crm.item.list"):
            cell = w["rows"][key][method]
            assert "error" not in cell, (key, method, cell)
            assert _is_number(cell["per_call"]) and cell["per_call"] > 1000, (key, method, cell)
    # a page costs more than server.time for every contestant: the counts are per call, not per run
    assert all(w["rows"][k]["crm.item.list"]["per_call"] > w["rows"][k]["server.time"]["per_call"]
               for k in w["rows"])
    assert "### Instructions per call (callgrind)" in quick["_report"]
    assert "| server.time: b24hook ÷ floor (instructions) |" in quick["_report"]


def test_async_every_contestant(quick: dict) -> None:
    from bench.contestants import ASYNC, ASYNC_CONCURRENCY

    w = quick["async"]
    assert w["concurrency"] == ASYNC_CONCURRENCY == 100
    rows = w["rows"]
    for c in ASYNC:
        if c.kind == "js" and "js" in quick["skipped"]:
            continue
        assert c.key in rows and "error" not in rows[c.key], (c.key, rows.get(c.key))
        assert _is_number(rows[c.key]["calls_per_s"]) and _is_number(rows[c.key]["cpu_us_per_call"])
    assert "### 100 calls in flight on one async client" in quick["_report"]
    assert "`AsyncB24Hook`" in quick["_report"]


def test_decode_every_decoder(quick: dict) -> None:
    med = quick["decode"]["median_s"]
    assert {"b24hook", "json.loads", "orjson"} <= set(med)
    assert all(_is_number(v) for v in med.values())


def test_export_every_contestant(quick: dict) -> None:
    from bench.contestants import export_contestants

    js = "js" not in quick["skipped"]
    got = quick["export"]["contestants"]
    for c in export_contestants():
        if c.kind == "js" and not js:
            continue
        r = got[c.key]
        assert "error" not in r, (c.key, r)
        assert r["rows"] == r["target_rows"], (c.key, r)
        assert _is_number(r["wall"]) and r["requests"] > 0, (c.key, r)
    assert any(k.startswith("b24hook") for k in got)


def test_memory_every_contestant(quick: dict) -> None:
    got = quick["memory"]["contestants"]
    assert len(got) >= 4
    for k, r in got.items():
        if k.startswith("js") and "js" in quick["skipped"]:
            continue
        assert "error" not in r, (k, r)
        assert r["rows"] == r["target_rows"], (k, r)
        assert _is_number(r["peak_mb"]) and r["growth_mb"] >= 0, (k, r)


def test_planned_export_every_scenario(quick: dict) -> None:
    """Issue 12 at small sizes: b24hook never refused (no 503/429, no refused command),
    every row exactly once in each scenario, the plan within the burst; the peers ran."""
    w = quick["planner"]
    for name in ("fast", "budget-documented", "budget-observed"):
        got = w[name]["contestants"]
        hook = got["b24hook-planned"]
        assert "error" not in hook, (name, hook)
        assert hook["exactly_once"], (name, hook)
        assert hook["503"] == 0 and hook["429"] == 0 and hook["refused_subcalls"] == 0, (name, hook)
        assert {"fast_bitrix24", "b24pysdk"} <= set(got)
    assert w["fast"]["contestants"]["b24hook-planned"]["requests"] <= 50
    r = w["resume"]
    assert r["checkpoint_written"] and 0 < r["killed_after"] < r["rows"]
    assert r["read_ratio"] <= 1.05


def test_report_has_every_section(quick: dict) -> None:
    text = quick["_report"]
    for head in ("## Machine", "## 1. Per-call overhead", "## 2. Decoding", "## 3. Export under the real limits",
                 "## 4. Memory", "## 5. The planned export (issue 12)"):
        assert head in text
    assert {"percall.png", "list.png", "threads.png", "decode.png", "export.png", "memory.png"} <= set(quick["_charts"])
