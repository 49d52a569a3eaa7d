"""fork: parent and child keep working and never read each other's answers
(issue 9 item 1).

The script runs in a subprocess (a broken fork must not wedge pytest): one
B24Hook is used before ``os.fork()``, then parent and child each fetch their
own rows, interleaved, and check that every answer is the one they asked for;
then a multiprocessing pool (start method ``fork``) does the same with 4
workers sharing the inherited client.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)

SCRIPT = textwrap.dedent(r'''
    import multiprocessing as mp, os, sys, time
    from b24hook import B24Hook
    url, ca = sys.argv[1], sys.argv[2]
    b24 = B24Hook.from_webhook_url(url, verify=ca, restriction_params={
        "rate_limit": {"burst_limit": 100000, "drain_rate": 100000}})
    ids = []
    for i in range(40):
        r = b24.actions.v2.call.make("crm.item.add", {"entityTypeId": 2, "fields": {"title": f"fork-{i}"}})
        ids.append(r.get_data()["result"]["item"]["id"])
    assert b24.actions.v2.call.make("server.time").is_success   # connections are pooled now

    def mine(idx):
        bad = 0
        for _ in range(3):
            for i in idx:
                r = b24.actions.v2.call.make("crm.item.get", {"entityTypeId": 2, "id": ids[i]})
                if r.get_data()["result"]["item"]["title"] != f"fork-{i}":
                    bad += 1
        return bad

    pid = os.fork()
    if pid == 0:
        try:
            bad = mine(range(0, 40, 2))
        except BaseException as exc:  # noqa: BLE001
            print("child error", type(exc).__name__, exc, flush=True)
            os._exit(3)
        os._exit(1 if bad else 0)
    bad = mine(range(1, 40, 2))
    _, st = os.waitpid(pid, 0)
    child = os.waitstatus_to_exitcode(st)
    print("fork parent_bad", bad, "child_exit", child, flush=True)

    ctx = mp.get_context("fork")
    with ctx.Pool(4) as pool:
        bads = pool.map(mine, [range(k, 40, 4) for k in range(4)])
    print("pool bad", sum(bads), flush=True)
    assert mine(range(40)) == 0          # the parent still works
    b24.close()
    print("OK" if bad == 0 and child == 0 and sum(bads) == 0 else "MIXED", flush=True)
''')


def test_fork_parent_and_children_read_only_their_own_answers(portal: Any, tmp_path: Path) -> None:
    script = tmp_path / "fork_script.py"
    script.write_text(SCRIPT)
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, str(script), portal.v2_url, portal.ca_path],
        capture_output=True, text=True, timeout=100,
        env={**os.environ, "PYTHONPATH": str(root)}, cwd=root,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "fork parent_bad 0 child_exit 0" in out, out
    assert "pool bad 0" in out, out
    assert out.strip().endswith("OK"), out
