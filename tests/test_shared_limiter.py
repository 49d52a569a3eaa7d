"""shared="host": every process of one machine shares one request bucket and one
operating ledger (issue 15 part A), tested with real processes against the
emulator with the standard limits (50 requests burst, 2 per second).

- 4 processes x 4 threads, shared: every call succeeds, the emulator refuses
  nothing; the same load unshared is refused (so the shared run can fail);
- a process SIGKILLed while holding the shared lock wedges none of the others
  (they are started while it holds the lock, and recover it);
- an AsyncB24Hook process shares the budget of a blocking one.

The workers are tests/_shared_worker.py; their shared files go to a private
B24HOOK_SHM_DIR. Figures: docs/workers.md."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

pytestmark = pytest.mark.timeout(180)

WORKER = str(Path(__file__).with_name("_shared_worker.py"))


@pytest.fixture(scope="module")
def rportal() -> Iterator[Any]:
    """A portal with the standard leaky bucket (50/2 per source IP)."""
    from b24hook.emulator import EmulatorPortal

    p = EmulatorPortal(db=":memory:", seed_demo=0, rate_limit="standard").start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def env(rportal: Any, tmp_path: Path) -> dict[str, str]:
    rportal.reset_limits()
    rportal.reset_stats()
    e = dict(os.environ)
    e.update({"B24_WEBHOOK_URL": rportal.v2_url, "B24HOOK_CA_BUNDLE": rportal.ca_path,
              "B24HOOK_SHM_DIR": str(tmp_path)})
    e["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent.parent), e.get("PYTHONPATH", "")])
    return e


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, WORKER, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _results(procs: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=150)
        assert p.returncode == 0, stderr[-2000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def _load(env: dict[str, str], shared: str, modes: tuple[str, ...], calls: int) -> tuple[list[dict[str, Any]], float]:
    start = time.monotonic()
    procs = [_start(env, m, "--shared", shared, "--threads", "4", "--calls", str(calls)) for m in modes]
    return _results(procs), time.monotonic() - start


def _figures(name: str, res: list[dict[str, Any]], portal: Any, wall: float) -> dict[str, Any]:
    st = portal.stats()
    fig = {"run": name, "calls": sum(r["ok"] + r["failed"] for r in res),
           "ok": sum(r["ok"] for r in res), "failed": sum(r["failed"] for r in res),
           "http_requests": st["total"], "query_limit_exceeded": st["query_limit_exceeded"],
           "wall_s": round(wall, 1)}
    print("FIGURES", json.dumps(fig))
    return fig


def test_four_processes_share_one_bucket_unshared_overrun(rportal: Any, env: dict[str, str]) -> None:
    # 4 x 4 x 5 = 80 calls: more than the 50-request burst, so only a shared budget keeps
    # every request under the portal's limit
    res, wall = _load(env, "host", ("sync",) * 4, 5)
    fig = _figures("shared=host", res, rportal, wall)
    assert all(r["backend"] == {"rate": "host", "operating": "host"} for r in res)
    assert fig["ok"] == 80 and fig["failed"] == 0
    assert fig["query_limit_exceeded"] == 0 and fig["http_requests"] == 80

    rportal.reset_limits()
    rportal.reset_stats()
    res, wall = _load(env, "none", ("sync",) * 4, 5)
    fig = _figures("unshared", res, rportal, wall)
    assert all(r["backend"] == {"rate": "in-process", "operating": "in-process"} for r in res)
    assert fig["query_limit_exceeded"] > 0   # four private buckets overrun the portal


def test_killed_lock_holder_wedges_nobody(rportal: Any, env: dict[str, str]) -> None:
    holder = _start(env, "hold")
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        # started while the lock is held: they wait for it, then recover it
        procs = [_start(env, "sync", "--threads", "4", "--calls", "2") for _ in range(3)]
        time.sleep(0.5)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdout.close() if holder.stdout else None
        holder.stderr.close() if holder.stderr else None
    res = _results(procs)
    assert sum(r["ok"] for r in res) == 24 and sum(r["failed"] for r in res) == 0
    assert all(r["repairs"] == 1 for r in res)      # one dead owner, recovered once
    assert rportal.stats()["query_limit_exceeded"] == 0


def test_async_client_shares_the_budget(rportal: Any, env: dict[str, str]) -> None:
    # 2 x 4 x 8 = 64 calls, over the burst: a blocking and an asyncio process share it
    res, wall = _load(env, "host", ("sync", "async"), 8)
    fig = _figures("shared=host sync+async", res, rportal, wall)
    assert all(r["backend"]["rate"] == "host" for r in res)
    assert fig["ok"] == 64 and fig["failed"] == 0
    assert fig["query_limit_exceeded"] == 0 and fig["http_requests"] == 64
