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
    # after any PYTHONPATH given (make asan-pytest puts the sanitized build first)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (e.get("PYTHONPATH", ""), str(Path(__file__).parent.parent)) if p)
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


# ------------------------------------------------------------------ the option surface
SECRET = "shm-test-secret-0123"


def test_shared_param_values_and_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from b24hook import B24Hook, ParamsFactory, RestrictionManager
    from b24hook import _core

    monkeypatch.setenv("B24HOOK_SHM_DIR", str(tmp_path))
    assert ParamsFactory.get_default()["shared"] is None
    assert _core.Limiter.backend_names(None) == ("in-process", "in-process")
    assert _core.Limiter.backend_names("host") == ("host", "host")
    for bad in ("Host", "", "shm", "redis:/x"):
        with pytest.raises(ValueError, match="redis://host:port/db"):
            B24Hook("x.bitrix24.com", 1, SECRET, restriction_params={"shared": bad})
    with pytest.raises(TypeError):
        B24Hook("x.bitrix24.com", 1, SECRET, restriction_params={"shared": 1})
    # validating opens nothing; a shared limiter needs the client's scope
    assert RestrictionManager.validate({"shared": "host"})["shared"] == "host"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="scope"):
        RestrictionManager({"shared": "host"})

    with B24Hook("x.bitrix24.com", 1, SECRET, restriction_params={"shared": "host"}) as b24:
        for v in ("v2", "v3"):
            http = b24.get_http_client(v)
            assert http.get_restriction_manager_params()["shared"] == "host"
            assert http.get_stats()["limiter_backend"] == {"rate": "host", "operating": "host"}
        names = sorted(p.name for p in tmp_path.iterdir())
        # one bucket for the portal (v2 and v3 share it), one ledger for the webhook
        assert len(names) == 2 and names[0].startswith("b24hook-ops-") and names[1].startswith("b24hook-rate-")
        assert all(SECRET not in n and "bitrix24" not in n for n in names)
        assert all((tmp_path / n).stat().st_mode & 0o777 == 0o600 for n in names)
        # the backend is fixed at construction; the rest of the params can change
        with pytest.raises(ValueError, match="fixed when the client is built"):
            b24.set_restriction_manager_params({})
        b24.set_restriction_manager_params({"shared": "host", "max_retries": 5})
        assert b24.get_http_client("v2").restriction.max_retries == 5
    # another webhook of the same portal: the same bucket file, its own ledger
    with B24Hook("x.bitrix24.com", 2, SECRET + "x", restriction_params={"shared": "host"}):
        assert len([p for p in tmp_path.iterdir() if p.name.startswith("b24hook-rate-")]) == 1
        assert len([p for p in tmp_path.iterdir() if p.name.startswith("b24hook-ops-")]) == 2


def test_shared_state_across_clients_in_one_process(portal: Any, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Two clients of one portal (one process here, several in the tests above) take from
    one bucket and read one ledger: what one spends, the other no longer has."""
    from b24hook import B24Hook

    monkeypatch.setenv("B24HOOK_SHM_DIR", str(tmp_path))
    params = {"shared": "host", "rate_limit": {"burst_limit": 10, "drain_rate": 0.01}}
    with B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path, restriction_params=params) as a, \
            B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path, restriction_params=params) as b:
        sa, sb = a.get_http_client("v2"), b.get_http_client("v3")
        assert sb.get_stats()["tokens"] == pytest.approx(10, abs=0.01)
        for _ in range(3):
            assert a.actions.v2.call.make("server.time").is_success
        assert sb.get_stats()["tokens"] == pytest.approx(7, abs=0.01)   # b's v3 sees a's v2 calls
        assert sb.get_stats()["total_requests"] == 0                    # metrics stay per client
        sa.feed_time("crm.item.list", {"operating": 476, "operating_reset_at": time.time() + 60})
        wait, gate = b.get_http_client("v2").restriction.limiter.operating_wait("crm.item.list")
        assert gate == "operatingLimiter" and wait > 0
