"""Several requests at once on one thread (issue 10 item 2): the engine's multi
driver under batch_by_chunk, the sharded export and ``Http.flights``, against the
emulator with its real limits. The emulator's ``in_flight_peak`` counts the
requests it was processing at once."""
from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import pytest

from b24hook import AjaxError, AjaxResult, B24Hook, BatchMaybeCommittedError, _core
from b24hook.emulator import EmulatorPortal

from _list_rows import bulk_items, requests_of

ET = 1256


@pytest.fixture(scope="module")
def slow_portal() -> Iterator[EmulatorPortal]:
    """Standard limits (burst 50, 2 requests/s), every call really takes 50 ms
    (a batch: its commands one after another, as on a real portal)."""
    p = EmulatorPortal(db=":memory:", rate_limit=(50, 2), exec_time_per_call=0.05,
                       sleep_simulated_cost=True).start()
    bulk_items(p, ET, 12_000)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def hook(slow_portal: EmulatorPortal) -> Iterator[B24Hook]:
    slow_portal.wait_idle()
    slow_portal.reset_limits()
    slow_portal.reset_stats()
    b = B24Hook.from_webhook_url(slow_portal.v2_url, verify=slow_portal.ca_path, timeout=60)
    try:
        yield b
    finally:
        b.close()


def _threads() -> set[str]:
    """The process's threads but the emulator's own (one per connection it serves)."""
    return {t.name for t in threading.enumerate() if "process_request" not in t.name}


def test_batch_by_chunk_of_500_commands_runs_its_requests_at_once(
        hook: B24Hook, slow_portal: EmulatorPortal) -> None:
    before = _threads()
    calls = [("crm.item.get", {"entityTypeId": ET, "id": i + 1}) for i in range(500)]
    res = hook.actions.v2.batch_by_chunk.make(calls, is_halt_on_error=False)
    assert res.is_success, res.get_error_messages()
    data = res.get_data()
    assert [row["item"]["id"] for row in data] == list(range(1, 501))  # every answer, in order
    st = slow_portal.stats()
    assert requests_of(slow_portal, "batch") == 10
    # ten batches of 50 x 50 ms: one after another they take 25 s of server time;
    # at once the portal was processing several of them together
    assert st["in_flight_peak"] >= 4, st["in_flight_peak"]
    assert st["query_limit_exceeded"] == 0 and st["by_status"].get(503, 0) == 0
    assert _threads() == before  # no thread was started for it


def test_v3_batch_by_chunk_runs_at_once_too(hook: B24Hook, slow_portal: EmulatorPortal) -> None:
    calls = [("crm.item.get", {"entityTypeId": ET, "id": i + 1}) for i in range(150)]
    res = hook.actions.v3.batch_by_chunk.make(calls)
    assert res.is_success and [r["item"]["id"] for r in res.get_data()] == list(range(1, 151))
    assert slow_portal.stats()["in_flight_peak"] >= 2


def test_the_sharded_export_walks_its_shards_at_once_on_the_callers_thread(
        hook: B24Hook, slow_portal: EmulatorPortal) -> None:
    before = _threads()
    seen: list[int] = []
    during: set[str] = set()
    for chunk in hook.actions.v2.fetch_list.make(
            "crm.item.list", {"entityTypeId": ET, "select": ["id"]}, id_key="id",
            custom_key_for_result="items", fast=True, shards=4):
        seen.extend(int(r["id"]) for r in chunk)
        during |= _threads()
    assert sorted(seen) == list(range(1, 12_001)) and len(seen) == len(set(seen))
    st = slow_portal.stats()
    assert st["in_flight_peak"] >= 3, st["in_flight_peak"]
    assert st["query_limit_exceeded"] == 0
    assert during <= before  # the shards are transfers on this thread, not threads


def test_flights_keep_the_rate_limit(hook: B24Hook, slow_portal: EmulatorPortal) -> None:
    """60 calls started at once: the limiter lets the burst go and paces the
    rest (the portal refuses none), all on one thread."""
    http = hook.get_http_client("v2")
    got: dict[int, Any] = {}
    with http.flights() as flights:
        for i in range(60):
            flights.add(i, "server.time")
        while flights.active:
            for key, res in flights.run():
                got[key] = res
        assert flights.peak >= 10
    assert sorted(got) == list(range(60))
    assert all(isinstance(r, AjaxResult) and r.is_success for r in got.values())
    st = slow_portal.stats()
    assert st["query_limit_exceeded"] == 0 and st["by_status"].get(503, 0) == 0
    assert http.get_stats()["limit_hits"] > 0  # the gate made some of them wait


def test_a_hard_error_stops_new_chunks_and_raises_the_first_in_order(
        hook: B24Hook, slow_portal: EmulatorPortal) -> None:
    slow_portal.inject("error500", method="batch", fraction=1.0)
    try:
        calls = [("crm.item.add", {"entityTypeId": ET, "fields": {"title": "x"}}) for _ in range(3000)]
        with pytest.raises(BatchMaybeCommittedError) as info:
            hook.actions.v2.batch_by_chunk.make(calls)
        assert info.value.maybe_committed  # a write answered 500 may have run
        # 60 chunks; the planner's first round is bounded by the bucket's free
        # tokens less the reserve (50 - 5); its answers stop new ones
        sent = requests_of(slow_portal, "batch")
        assert sent <= 46
        assert len(info.value.maybe_positions) == 50 * sent
        assert len(info.value.unsent_positions) == 3000 - 50 * sent
    finally:
        slow_portal.clear_faults()


def test_cancelling_flights_stops_them_and_the_client_stays_usable(
        hook: B24Hook, slow_portal: EmulatorPortal) -> None:
    slow_portal.inject("hang", method="server.time", delay=20, fraction=1.0)
    token = _core.CancelToken()
    ends: dict[str, Any] = {}
    http = hook.get_http_client("v2")

    def worker() -> None:
        token.bind()
        t0 = time.monotonic()
        try:
            with http.flights() as flights:
                for i in range(5):
                    flights.add(i, "server.time")
                while flights.active:
                    flights.run()
        except BaseException as exc:  # noqa: BLE001 - inspected below
            ends["exc"] = exc
        ends["took"] = time.monotonic() - t0
        token.unbind()

    t = threading.Thread(target=worker)
    t.start()
    time.sleep(0.5)
    token.cancel()
    t.join(10)
    slow_portal.clear_faults()
    assert not t.is_alive()
    assert isinstance(ends.get("exc"), _core.CancelledError) and ends["took"] < 3
    assert hook.actions.v2.call.make("server.time").is_success


def test_flights_need_a_real_transport(hook: B24Hook) -> None:
    http = hook.get_http_client("v2")
    http._transport = _core.scripted_transport()
    with pytest.raises(TypeError, match="scripted"):
        http.flights()


def test_flights_refuse_a_key_still_running_and_bad_params_start_nothing(
        hook: B24Hook, slow_portal: EmulatorPortal) -> None:
    http = hook.get_http_client("v2")
    with http.flights() as flights:
        flights.add("a", "server.time")
        with pytest.raises(ValueError, match="still running"):
            flights.add("a", "server.time")
        with pytest.raises(AjaxError) as info:
            flights.add("b", "crm.item.add", {"fields": {"x": object()}})
        assert info.value.code == "JSSDK_INVALID_PARAMS"
        assert flights.active == 1
        got = []
        while flights.active:
            got += flights.run()
        assert [k for k, _ in got] == ["a"]
        flights.add("a", "server.time")  # the key is free again once returned
        while flights.active:
            got += flights.run()
    assert slow_portal.stats()["requests"].get("crm.item.add") is None
