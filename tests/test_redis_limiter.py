"""Cluster-wide limiter on Redis (issue 15 part B): three process groups stand
for three hosts (each its own process pool, spawned), all using one webhook of
an emulator with the standard limits (burst 50, 2 requests/s).

* shared through Redis: every call succeeds and the portal refuses none
  (zero QUERY_LIMIT_EXCEEDED);
* the same load unshared overruns the portal (it does refuse some: the test
  can fail);
* Redis killed mid-run: no call fails, each process logs the outage once (one
  WARNING) and that sharing resumed (one INFO) after Redis is back, and the
  shared bucket is in Redis again;
* in one process, an AsyncB24Hook (GIL held when it reaches Redis) and a
  threaded blocking client share the bucket without a deadlock.

The test starts and stops its own redis-server (tests/_redis_hosts.py).
Figures (calls, refusals, seconds) are printed for the report (-s).
"""
from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest

from _async_support import standard_portal
from _redis_hosts import RedisServer, host_worker
from b24hook.emulator import EmulatorPortal

pytestmark = pytest.mark.timeout(180)

HOSTS = 3


portal = pytest.fixture(scope="module")(standard_portal)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    r = RedisServer(tmp_path).start()
    try:
        yield r
    finally:
        r.kill()


def run_hosts(portal: EmulatorPortal, shared: str | None, sync: Path, per_host: int,
              calls: int = 0, run_for: float = 0.0, during: Any = None) -> tuple[list[dict[str, Any]], float]:
    """``per_host`` processes in each of HOSTS pools; all start together (a go
    file) once every client is built. ``during(t0)`` runs in the test while they
    call. The workers' reports and the seconds from go to the last answer."""
    portal.wait_idle()
    portal.reset_limits()
    portal.reset_stats()
    ctx = multiprocessing.get_context("spawn")
    pools = [ProcessPoolExecutor(max_workers=per_host, mp_context=ctx) for _ in range(HOSTS)]
    try:
        futs: list[Future[dict[str, Any]]] = [
            pool.submit(host_worker, portal.v2_url, portal.ca_path, shared, calls, str(sync), run_for)
            for pool in pools for _ in range(per_host)]
        deadline = time.monotonic() + 60
        while len(list(sync.glob("ready-*"))) < HOSTS * per_host:
            assert time.monotonic() < deadline, "the workers did not start"
            for f in futs:
                if f.done():
                    f.result()  # a worker that died raises here
            time.sleep(0.05)
        t0 = time.monotonic()
        (sync / "go").touch()
        if during is not None:
            during(t0)
        reports = [f.result(timeout=150) for f in futs]
        return reports, time.monotonic() - t0
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def test_three_hosts_sharing_redis_never_overrun_the_portal(
        portal: EmulatorPortal, redis: RedisServer, tmp_path: Path) -> None:
    reports, secs = run_hosts(portal, redis.url, tmp_path, per_host=2, calls=13)
    st = portal.stats()
    n = HOSTS * 2 * 13
    print(f"\nshared (redis): {n} calls from {HOSTS}x2 processes, "
          f"{st['query_limit_exceeded']} QUERY_LIMIT_EXCEEDED, {secs:.1f} s")
    assert sum(r["ok"] for r in reports) == n
    assert sum(r["failed"] for r in reports) == 0
    assert st["query_limit_exceeded"] == 0, st
    assert st["by_status"] == {200: n}, st
    # no outage: nothing about sharing was logged
    assert not [e for r in reports for e in r["events"] if e[1].startswith("limiter.shared")]
    # the state is in Redis, under digests (never the webhook secret), and
    # every key expires
    keys = redis.keys()
    assert any(k.endswith(":rate") for k in keys) and any(k.endswith(":op") for k in keys), keys
    assert not [k for k in keys if portal.secret in k or "127.0.0.1" in k], keys
    assert all(int(redis.command("PTTL", k)[1:]) > 0 for k in keys), keys


def test_the_same_load_unshared_overruns_the_portal(portal: EmulatorPortal, tmp_path: Path) -> None:
    reports, secs = run_hosts(portal, None, tmp_path, per_host=2, calls=13)
    st = portal.stats()
    n = HOSTS * 2 * 13
    failed = sum(r["failed"] for r in reports)
    print(f"\nunshared: {n} calls from {HOSTS}x2 processes, "
          f"{st['query_limit_exceeded']} QUERY_LIMIT_EXCEEDED, {failed} calls failed "
          f"(retries exhausted), {secs:.1f} s")
    assert sum(r["ok"] for r in reports) + failed == n
    assert st["query_limit_exceeded"] > 0, st


def test_redis_killed_mid_run_no_call_fails_one_warning_and_sharing_resumes(
        portal: EmulatorPortal, redis: RedisServer, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def outage(t0: float) -> None:
        time.sleep(max(0.0, t0 + 4 - time.monotonic()))
        redis.kill()
        time.sleep(4)
        redis.start()  # same port, empty
        # a worker reconnects within its backoff (at most 5 s); poll rather
        # than sleep a fixed time, and stop while the workers still call
        back = ""
        while time.monotonic() < t0 + 15.5:
            back = redis.command("DBSIZE")
            if back not in (":0", ""):
                break
            time.sleep(0.1)
        seen["bucket_back"] = back

    reports, secs = run_hosts(portal, redis.url, tmp_path, per_host=1, run_for=16, during=outage)
    st = portal.stats()
    calls = sum(r["ok"] + r["failed"] for r in reports)
    print(f"\nredis killed for 4 s of 16: {calls} calls from {HOSTS} processes, "
          f"{st['query_limit_exceeded']} QUERY_LIMIT_EXCEEDED, {secs:.1f} s")
    assert sum(r["failed"] for r in reports) == 0, [r["errors"] for r in reports]
    for r in reports:
        warnings = [e for e in r["events"] if e == ("WARNING", "limiter.shared_down")]
        resumed = [e for e in r["events"] if e == ("INFO", "limiter.shared_up")]
        assert len(warnings) == 1, r["events"]
        assert len(resumed) == 1, r["events"]
    # sharing resumed: the restarted (empty) server holds the bucket again
    assert seen["bucket_back"] not in (":0", ""), seen


def test_an_async_client_and_a_threaded_one_share_the_redis_bucket(
        portal: EmulatorPortal, redis: RedisServer) -> None:
    """The asyncio driver reaches Redis with the GIL held (the block hooks give it up
    for the round trip) while a blocking client's thread reaches it without: both
    at once, one budget, no deadlock, zero refusals."""
    from b24hook import AsyncB24Hook, B24Hook

    portal.wait_idle()
    portal.reset_limits()
    portal.reset_stats()
    params = {"shared": redis.url}
    sync_ok: list[bool] = []

    def blocking() -> None:
        with B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path,
                                      restriction_params=params) as b24:
            for _ in range(20):
                sync_ok.append(b24.actions.v2.call.make("server.time").is_success)

    async def main() -> list[bool]:
        async with AsyncB24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path,
                                                 restriction_params=params) as b24:
            stats = b24.get_http_client("v2").get_stats()
            assert stats["limiter_backend"] == {"rate": "redis", "operating": "redis"}
            res = await asyncio.gather(*[b24.actions.v2.call.make(method="server.time")
                                         for _ in range(40)])
            return [r.is_success for r in res]

    t = threading.Thread(target=blocking)
    t0 = time.monotonic()
    t.start()
    async_ok = asyncio.run(main())
    t.join(120)
    assert not t.is_alive()
    st = portal.stats()
    print(f"\nasync 40 + threaded 20 calls, one process, shared redis: "
          f"{st['query_limit_exceeded']} QUERY_LIMIT_EXCEEDED, {time.monotonic() - t0:.1f} s")
    assert all(async_ok) and len(async_ok) == 40
    assert all(sync_ok) and len(sync_ok) == 20
    assert st["query_limit_exceeded"] == 0, st
    assert st["by_status"] == {200: 60}, st


def test_a_redis_password_stays_out_of_errors_and_warnings(caplog: pytest.LogCaptureFixture) -> None:
    """A password in the URL (one holding '@' too) reaches neither the error
    that refuses changing ``shared`` nor the outage warning's address."""
    import logging

    from b24hook import B24Hook

    url = "redis://:pa@ss-w0rd@127.0.0.1:1/0"  # nothing listens on port 1
    caplog.set_level(logging.INFO, logger="b24hook.limiter")
    with B24Hook("x.bitrix24.com", 1, "redis-secret-0123", restriction_params={"shared": url}) as b24:
        with pytest.raises(ValueError, match="fixed when the client is built") as info:
            b24.set_restriction_manager_params({})
        assert "ss-w0rd" not in str(info.value) and "pa@" not in str(info.value)
        assert "redis://***@127.0.0.1:1/0" in str(info.value)
        b24.get_http_client("v2").get_stats()  # runs the queued notice
    downs = [r for r in caplog.records if getattr(r, "b24_event", "") == "limiter.shared_down"]
    assert downs, caplog.records
    assert all("ss-w0rd" not in r.getMessage() and "pa@" not in r.getMessage() for r in downs)
