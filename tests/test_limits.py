"""Limits against the emulator with the real standard limits switched on."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Iterator

import pytest

from b24hook import B24Hook, ParamsFactory
from tests.conftest import CLIENT_LOGGER


@pytest.fixture
def lportal() -> Iterator[Any]:
    """A portal of its own: limits switched on here must not slow other tests."""
    from b24hook.emulator import EmulatorPortal

    p = EmulatorPortal(db=":memory:", seed_demo=0).start()
    try:
        yield p
    finally:
        p.stop()


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_8_threads_300_calls_under_the_standard_bucket(lportal: Any, capsys: Any) -> None:
    """Burst 50, 2 req/s on the portal; the client's own bucket keeps it from
    ever refusing. (300 - 50) / 2 = 125 s of real time: the client's clock is real."""
    lportal.configure(rate_limit=(50, 2))
    errors: list[BaseException] = []
    done = [0] * 8
    with B24Hook.from_webhook_url(lportal.v2_url, verify=lportal.ca_path) as b24:
        def work(n: int, calls: int) -> None:
            try:
                for _ in range(calls):
                    if b24.actions.v2.call.make("server.time").is_success:
                        done[n] += 1
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        start = time.monotonic()
        threads = [threading.Thread(target=work, args=(n, 38 if n < 4 else 37)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        stats = b24.get_http_client("v2").get_stats()
    server = lportal.stats()
    assert not errors and sum(done) == 300
    assert server["query_limit_exceeded"] == 0
    assert server["by_status"].get(503, 0) == 0 and server["by_status"].get(429, 0) == 0
    assert stats["successful_requests"] == 300 and stats["failed_requests"] == 0
    assert stats["limit_hits"] > 0
    assert 120 <= elapsed < 140
    with capsys.disabled():
        print(f"\n[load] calls=300 threads=8 elapsed={elapsed:.1f}s "
              f"503={server['by_status'].get(503, 0)} 429={server['by_status'].get(429, 0)} "
              f"query_limit_exceeded={server['query_limit_exceeded']} limit_hits={stats['limit_hits']}")


def test_method_near_its_operating_budget_is_delayed_not_refused(lportal: Any) -> None:
    """Each call costs 50 portal seconds of a 480 s budget: without the client's
    operating gate the 10th call would be refused with 429."""
    lportal.configure(operating_limit=480, exec_time_per_call={"user.get": 50.0})
    params = ParamsFactory.get_default()
    params["adaptive_config"]["max_delay"] = 300  # keep the adaptive delay short here
    with B24Hook.from_webhook_url(lportal.v2_url, verify=lportal.ca_path,
                                  restriction_params=params) as b24:
        b24.set_logger(logging.getLogger(CLIENT_LOGGER))
        http = b24.get_http_client("v2")
        for _ in range(9):
            assert b24.actions.v2.call.make("user.get").is_success
        st = http.get_stats()
        assert st["operating_stats"]["user.get"] >= 400
        assert st["adaptive_delays"] >= 1 and st["heavy_request_count"] >= 1
        # now at >= 475 s: the operating gate blocks until the portal's reset; move
        # the portal clock so that its reset is 3 s away, and feed that to the client
        op, reset_at = lportal.operating("user.get")
        assert op >= 450
        http.feed_time("user.get", {"operating": 479.0, "operating_reset_at": time.time() + 2})
        wait_ms = http.restriction.operating_wait_ms("user.get")
        assert 2000 < wait_ms <= 3100
        lportal.advance_clock(601)   # the portal's buckets expire meanwhile
        start = time.monotonic()
        assert b24.actions.v2.call.make("user.get").is_success
        assert time.monotonic() - start >= 2.0   # delayed ...
    assert lportal.stats()["operation_time_limit"] == 0  # ... never refused


def test_rate_exceeded_answers_are_retried_and_lower_the_rate(lportal: Any) -> None:
    lportal.inject("status", method="server.time", status=503, count=1)
    with B24Hook.from_webhook_url(lportal.v2_url, verify=lportal.ca_path) as b24:
        b24.set_logger(logging.getLogger(CLIENT_LOGGER))
        start = time.monotonic()
        assert b24.actions.v2.call.make("server.time").is_success
        assert 1.4 < time.monotonic() - start < 3.0   # refill interval + 1 s
        st = b24.get_http_client("v2").get_stats()
        assert st["retries"] == 1 and st["recent_errors"] == 1


def test_set_restriction_manager_params_keeps_state_and_separates_versions(lportal: Any) -> None:
    with B24Hook.from_webhook_url(lportal.v2_url, verify=lportal.ca_path) as b24:
        v2, v3 = b24.get_http_client("v2"), b24.get_http_client("v3")
        b24.actions.v2.call.make("server.time")
        b24.set_restriction_manager_params({"rate_limit": {"burst_limit": 10}})
        s2, s3 = v2.get_stats(), v3.get_stats()
        assert s2["burst_limit"] == 10 and s2["drain_rate"] == 2 and s2["total_requests"] == 1
        assert s2["tokens"] <= 10 and s3["total_requests"] == 0
        assert v2.restriction.limiter is not v3.restriction.limiter
        assert v2.get_restriction_manager_params()["rate_limit"]["drain_rate"] == 2
        expected = {"retries", "consecutive_errors", "limit_hits", "tokens", "burst_limit",
                    "original_burst_limit", "drain_rate", "original_drain_rate",
                    "refill_interval_ms", "last_refill", "pending_requests", "recent_errors",
                    "recent_successes", "adaptive_delays", "total_adaptive_delay",
                    "adaptive_delay_avg", "heavy_request_count", "operating_stats",
                    "error_counts", "total_requests", "successful_requests", "failed_requests",
                    "total_duration", "by_method", "last_errors", "limiter_backend"}
        assert set(s2) == expected
        v2.reset()
        assert v2.get_stats()["total_requests"] == 0


def test_max_retries_below_one_sends_nothing(lportal: Any) -> None:
    from b24hook import AjaxError

    with B24Hook.from_webhook_url(lportal.v2_url, verify=lportal.ca_path,
                                  restriction_params={"max_retries": 0}) as b24:
        before = lportal.stats()["total"]
        with pytest.raises(AjaxError) as info:
            b24.actions.v2.call.make("server.time")
        assert (info.value.code, info.value.status) == ("JSSDK_CALL_ALL_ATTEMPTS_EXHAUSTED", 500)
        assert lportal.stats()["total"] == before


def test_per_method_state_stays_bounded_with_many_method_names() -> None:
    """Issue 9 item 10: 30,000 distinct method names keep the limiter's per-method
    tables bounded (metrics fold the names past 1,000 into one row; the operating
    table drops entries that cannot cause a wait) and a blocked method is kept."""
    from b24hook import AjaxError, B24Hook, _core

    reset = time.time() + 300
    hook = B24Hook("x.bitrix24.com", 1, "s3cr3tvalue1234", restriction_params={
        "rate_limit": {"burst_limit": 10**9, "drain_rate": 10**9},
        "adaptive_config": {"enabled": False}, "max_retries": 1})
    http = hook.get_http_client("v2")
    rm = http.restriction
    rm.limiter.record_success("hot.method", {"operating": 479.0, "operating_reset_at": reset})

    def answer(i: int) -> Any:
        if i % 7 == 0:
            return _core.Outcome((_core.ERROR, 400, {"error": "E", "error_description": "e"}, "E", "e",
                                  False, 1.0, None, {}))
        return _core.Outcome((_core.OK, 200, {"result": 1, "time": {"operating": 0.01, "operating_reset_at": reset}},
                              None, None, False, 1.0, None, {}))

    # 30,000 calls through the real engine, the scripted transport in place of the portal
    http._transport = _core.scripted_transport(*(answer(i) for i in range(30_000)))
    failed = 0
    for i in range(30_000):
        try:
            http.call(f"m.{i}")
        except AjaxError:
            failed += 1
    hook.close()
    assert failed == len(range(0, 30_000, 7))
    stats = rm.get_stats()
    assert stats["total_requests"] == 30_000
    assert len(stats["operating_stats"]) <= 1024
    assert len(stats["by_method"]) <= 1001 and len(stats["error_counts"]) <= 1001
    assert "(other methods)" in stats["by_method"]
    assert sum(v["count"] for v in stats["by_method"].values()) == 30_000
    assert rm.operating_wait_ms("hot.method") > 200_000
