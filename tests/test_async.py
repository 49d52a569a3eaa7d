"""AsyncB24Hook (issue 11, first slice): the engine driven by an asyncio loop
(``_core.AioMulti``: libcurl's multi socket interface on the loop), against the
emulator with its real limits. Each test runs its own loop with ``asyncio.run``."""
from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import sys
import threading
import time
from typing import Any, Callable, Iterator

import pytest

from b24hook import AjaxError, AjaxResult, AsyncB24Hook, B24Hook, SdkError, _core
from b24hook._errors import CLIENT_CLOSED_CODE
from b24hook._enums import ApiVersion
from b24hook.emulator import EmulatorPortal

from _async_support import clean, driver, run, standard_portal



portal = pytest.fixture(scope="module")(standard_portal)
# A second portal for the tests whose answers hang (20 s): its stuck requests never hold
# up the idle wait of the others.
hanging = pytest.fixture(scope="module", name="hanging")(standard_portal)


@pytest.fixture
def hang(hanging: EmulatorPortal) -> Iterator[EmulatorPortal]:
    """Every server.time of the hanging portal answers after 20 s."""
    hanging.reset_limits()
    hanging.inject("hang", method="server.time", delay=20, fraction=1.0)
    try:
        yield hanging
    finally:
        hanging.clear_faults()


@pytest.fixture
def fresh(portal: EmulatorPortal) -> EmulatorPortal:
    return clean(portal)


def same(a: AjaxResult, b: AjaxResult) -> None:
    """Two results of the same call, sync and async: equal but for time and request id."""
    assert type(a) is type(b) is AjaxResult
    assert a.is_success == b.is_success
    assert a.get_status() == b.get_status()
    da, db = a.get_data(), b.get_data()
    if da is None or db is None:
        assert da is db is None
    else:
        assert da["result"] == db["result"]
    assert a.get_error_messages() == b.get_error_messages()
    ea, eb = a.errors, b.errors
    assert list(ea) == list(eb)
    for key in ea:
        assert (ea[key].code, ea[key].status) == (eb[key].code, eb[key].status)  # type: ignore[attr-defined]
    qa, qb = a.get_query(), b.get_query()
    assert (qa["method"], qa["params"]) == (qb["method"], qb["params"])


# ------------------------------------------------------------------ same answers as the sync client
CASES = [
    ("v2", "crm.item.get", {"entityTypeId": 2, "id": 1}),          # success
    ("v2", "profile", None),                                        # success, no params
    ("v3", "tasks.task.get", {"id": 1}),                            # v3 success
    ("v3", "no.such.method", {}),                                   # v3 soft error: a failed result
    ("v3", "tasks.task.get", {"id": 10**9}),                        # v3 soft error
]


#: B24Hook's public names AsyncB24Hook has no twin of, and why (docs/async.md).
SYNC_ONLY = {
    # the JS SDK's deprecated shorthands: the async client starts on actions.*
    "call_method", "call_list_method", "fetch_list_method", "call_batch", "call_batch_by_chunk",
    "close", "destroy",   # aclose() (a coroutine)
    "set_http_client",    # the sync test seam: AsyncB24Hook drives b24hook's own Http only
}


def test_the_async_surface_is_the_sync_surface() -> None:
    """Every public name of B24Hook, its actions and tools has an async twin with the
    same parameters (names, kinds, defaults), but the documented SYNC_ONLY."""
    sync = B24Hook("https://x.bitrix24.com", 1, "abcdefghij1234")
    aio = AsyncB24Hook("https://x.bitrix24.com", 1, "abcdefghij1234")
    names = {n for n in dir(B24Hook) if not n.startswith("_")}
    assert names - SYNC_ONLY <= set(dir(AsyncB24Hook)), sorted(names - SYNC_ONLY - set(dir(AsyncB24Hook)))
    assert aio.is_init and aio.get_target_origin_with_path() == sync.get_target_origin_with_path()

    def params(fn: Any) -> list[tuple[str, Any, Any]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    pairs = [(getattr(sync.actions, v), getattr(aio.actions, v)) for v in ("v2", "v3")]
    pairs.append((sync.tools, aio.tools))
    for s_mgr, a_mgr in pairs:
        assert type(s_mgr).__slots__ == type(a_mgr).__slots__
        for name in type(s_mgr).__slots__:
            assert params(getattr(s_mgr, name).make) == params(getattr(a_mgr, name).make), name
    sync.destroy()
    aio._close()


def test_the_async_call_returns_what_the_sync_one_returns(fresh: EmulatorPortal) -> None:
    with B24Hook.from_webhook_url(fresh.v2_url, verify=fresh.ca_path) as sync:
        sync.actions.v2.call.make("crm.item.add", {"entityTypeId": 2, "fields": {"title": "A"}})
        sync.actions.v3.call.make("tasks.task.add", {"fields": {"title": "T"}})
        expected = [getattr(sync.actions, v).call.make(m, p) for v, m, p in CASES]

    async def body(b24: AsyncB24Hook) -> list[AjaxResult]:
        return [await getattr(b24.actions, v).call.make(method=m, params=p) for v, m, p in CASES]

    got = run(fresh, body)
    for (v, m, _p), a, b in zip(CASES, expected, got):
        same(a, b)
    assert got[0].is_success and got[0].get_data()["result"]["item"]["title"] == "A"
    assert got[2].is_success
    assert not got[3].is_success and got[3].errors["base-error"].code == \
        "BITRIX_REST_V3_EXCEPTION_METHODNOTFOUNDEXCEPTION"  # type: ignore[attr-defined]
    assert not got[4].is_success


def test_hard_errors_are_raised_as_by_the_sync_client(fresh: EmulatorPortal) -> None:
    calls = [("v2", "crm.item.get", {"entityTypeId": 2, "id": 10**9}),  # NOT_FOUND 400
             ("v2", "no.such.method", {})]                               # ERROR_METHOD_NOT_FOUND
    sync_errors = []
    with B24Hook.from_webhook_url(fresh.v2_url, verify=fresh.ca_path) as sync:
        for v, m, p in calls:
            with pytest.raises(AjaxError) as info:
                getattr(sync.actions, v).call.make(m, p)
            sync_errors.append(info.value)

    async def body(b24: AsyncB24Hook) -> list[AjaxError]:
        out = []
        for v, m, p in calls:
            with pytest.raises(AjaxError) as info:
                await getattr(b24.actions, v).call.make(method=m, params=p, request_id="rid-1")
            out.append(info.value)
        return out

    for a, b in zip(sync_errors, run(fresh, body)):
        assert (a.code, a.status, a.message) == (b.code, b.status, b.message)
        assert b.request_info["request_id"] == "rid-1"
        assert b.request_info["method"] == a.request_info["method"]
    assert (sync_errors[0].code, sync_errors[0].status) == ("NOT_FOUND", 400)


def test_request_id_tools_refusals_and_closing(fresh: EmulatorPortal) -> None:
    async def body(b24: AsyncB24Hook) -> None:
        res = await b24.actions.v2.call.make(method="server.time", request_id="my-request-1")
        assert res.get_query()["request_id"] == "my-request-1"
        assert await b24.tools.health_check.make() is True
        ms = await b24.tools.ping.make()
        assert isinstance(ms, int) and 0 <= ms < 5000
        with pytest.raises(AjaxError) as info:  # refused before any I/O, as the sync client does
            await b24.actions.v2.call.make(method="server.time", params={"x": object()})
        assert info.value.code == "JSSDK_INVALID_PARAMS"
        await b24.aclose()
        await b24.aclose()  # idempotent
        assert b24.closed
        with pytest.raises(SdkError) as closed:
            await b24.actions.v2.call.make(method="server.time")
        assert closed.value.code == CLIENT_CLOSED_CODE
        assert await b24.tools.health_check.make() is False

    run(fresh, body)


def test_closing_fails_the_calls_in_flight_and_leaves_no_socket(hang: EmulatorPortal) -> None:
    async def body(b24: AsyncB24Hook) -> None:
        task = asyncio.ensure_future(b24.actions.v2.call.make(method="server.time"))
        d = await until_sending(b24, 1)
        await b24.aclose()
        with pytest.raises(SdkError) as info:
            await task
        assert info.value.code == CLIENT_CLOSED_CODE
        assert d.closed and d.active == 0 and d.sending == 0 and d.sockets == 0

    run(hang, body)


def test_an_idle_client_costs_no_cpu(fresh: EmulatorPortal) -> None:
    """Between calls the driver schedules nothing: the loop sleeps in select()."""
    async def body(b24: AsyncB24Hook) -> float:
        await asyncio.gather(*[b24.actions.v2.call.make(method="server.time") for _ in range(20)])
        t0 = time.thread_time()
        await asyncio.sleep(0.5)
        return time.thread_time() - t0

    assert run(fresh, body) < 0.05


def _opens(path: str) -> Callable[[], int]:
    """Counts the opens of ``path`` from now on (Linux inotify)."""
    import ctypes
    import os
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    # IN_OPEN | IN_CLOSE_NOWRITE: alternating events are not merged (identical
    # events in a row are, so opens alone would count as one)
    assert fd >= 0 and libc.inotify_add_watch(fd, path.encode(), 0x20 | 0x10) >= 0
    seen = [0]

    def count() -> int:
        while True:
            try:
                buf = os.read(fd, 65536)
            except BlockingIOError:
                return seen[0]
            off = 0
            while off < len(buf):   # struct inotify_event: wd, mask, cookie, len, name
                seen[0] += int.from_bytes(buf[off + 4:off + 8], "little") & 0x20 != 0
                off += 16 + int.from_bytes(buf[off + 12:off + 16], "little")
    return count


def test_the_ca_file_is_parsed_once_per_driver_not_per_connection(
        fresh: EmulatorPortal, tmp_path: Any) -> None:
    """With one CA file trusted, libcurl keeps the parsed store for the driver's
    connections (its CA cache; libcurl's default CA directory is turned off, which
    otherwise disables the cache): a new connection does not read the file again.
    Read per connection, the system bundle (~140 certificates) cost ~25 ms of CPU
    per new connection, on the loop (45 new connections: 1.2 s before, 47 ms after)."""
    ca = tmp_path / "ca.pem"
    ca.write_bytes(open(fresh.ca_path, "rb").read())
    fresh.configure(rate_limit=(10_000, 1_000))
    fast = {"rate_limit": {"burst_limit": 10_000, "drain_rate": 1_000, "adaptive_enabled": False}}

    async def main() -> tuple[list[AjaxResult], int]:
        async with AsyncB24Hook.from_webhook_url(fresh.v2_url, verify=str(ca),
                                                 restriction_params=fast) as b24:
            await b24.actions.v2.call.make(method="server.time")
            opens = _opens(str(ca))
            # answers held for 0.3 s: each of the 20 calls needs a connection of its own
            fresh.inject("latency", method="server.time", delay=0.3, fraction=1.0)
            done = await asyncio.gather(*[b24.actions.v2.call.make(method="server.time")
                                          for _ in range(20)])
            return done, opens()

    try:
        done, opened = asyncio.run(main())
    finally:
        fresh.clear_faults()
        fresh.reset_limits()
    assert all(r.is_success for r in done)
    assert opened == 0


def test_calls_started_one_per_turn_are_not_held_back_by_curls_timer(fresh: EmulatorPortal) -> None:
    """Calls started one per turn of the loop (as the planned jobs start them) each ask
    curl's timer for 0 ms. The driver keeps the pending timer rather than replacing it,
    so it fires at the next turn and each call's first step (connect, TLS set-up) runs
    there. Replaced at every start, the timer was put off until the starts stopped, and
    the first steps of all the calls then ran in one callback, holding the loop for
    their sum (tens of milliseconds for ~50 new connections)."""
    async def body(b24: AsyncB24Hook) -> int:
        await b24.actions.v2.call.make(method="server.time")   # the driver exists
        loop = asyncio.get_running_loop()
        fired = [0]
        plain_call_later = loop.call_later

        def call_later(delay: float, cb: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
            if getattr(cb, "__name__", "") == "_timeout":
                def timeout() -> None:
                    if starting:
                        fired[0] += 1
                    cb()
                return plain_call_later(delay, timeout)
            return plain_call_later(delay, cb, *args, **kw)

        loop.call_later = call_later  # type: ignore[method-assign]
        try:
            calls = []
            starting = True
            for _ in range(20):
                calls.append(asyncio.ensure_future(b24.actions.v2.call.make(method="server.time")))
                await asyncio.sleep(0)
            starting = False
            done = await asyncio.gather(*calls)
        finally:
            del loop.call_later  # type: ignore[method-assign]
        assert all(r.is_success for r in done)
        return fired[0]

    # curl's timeout action ran between the starts (replaced at every start: never)
    assert run(fresh, body) >= 5


def test_one_client_belongs_to_one_loop(fresh: EmulatorPortal) -> None:
    b24 = AsyncB24Hook.from_webhook_url(fresh.v2_url, verify=fresh.ca_path)

    async def call() -> bool:
        return (await b24.actions.v2.call.make(method="server.time")).is_success

    assert asyncio.run(call())
    with pytest.raises(RuntimeError, match="one client per event loop"):
        asyncio.run(call())
    asyncio.run(b24.aclose())


def test_two_threads_first_calls_at_once_bind_one_loop(fresh: EmulatorPortal) -> None:
    """Two threads' first calls on one client, the first paused (a trace function) just
    before it binds the client to its loop while the second makes its whole call: one
    thread's call runs, the other's raises RuntimeError; neither runs on the other's loop."""
    b24 = AsyncB24Hook.from_webhook_url(fresh.v2_url, verify=fresh.ca_path)
    paused, second_done = threading.Event(), threading.Event()
    outcomes: dict[str, Any] = {}

    def pause_before_binding(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_name == "_driver" and frame.f_code.co_filename.endswith("_aio.py"):
            # the line that binds the client to the running loop
            if event == "line" and _source_line(frame).rstrip().endswith(("= loop", ", loop)")):
                paused.set()
                second_done.wait(5)  # the other thread's first call runs meanwhile
            return pause_before_binding
        return None

    def caller(name: str, traced: bool) -> None:
        async def call() -> Any:
            return (await b24.actions.v2.call.make(method="server.time")).is_success

        if traced:
            sys.settrace(pause_before_binding)
        try:
            outcomes[name] = asyncio.run(call())
        except RuntimeError as exc:
            outcomes[name] = str(exc)
        finally:
            sys.settrace(None)
            if not traced:
                second_done.set()

    first = threading.Thread(target=caller, args=("first", True))
    first.start()
    assert paused.wait(30)
    second = threading.Thread(target=caller, args=("second", False))
    second.start()
    second.join(30)
    first.join(30)
    results = sorted(map(str, outcomes.values()))
    assert len(results) == 2 and results[0] == "True", outcomes
    assert "one client per event loop" in results[1], outcomes
    b24._close()


def _source_line(frame: Any) -> str:
    import linecache
    return linecache.getline(frame.f_code.co_filename, frame.f_lineno)


# ------------------------------------------------------------------ many tasks, one client
def test_200_concurrent_tasks_stay_within_the_portals_limits(fresh: EmulatorPortal) -> None:
    """200 tasks on one client, each one request (a call, a one-page list walk or a
    batch): burst 50, then 2/s, about 75 s; the portal refuses none of them."""
    n = 200

    async def one(b24: AsyncB24Hook, i: int) -> bool:
        v2 = b24.actions.v2
        if i % 4 == 0:
            return (await v2.call.make(method="server.time")).is_success
        if i % 4 == 1:
            return (await v2.call.make(method="crm.item.list", params={"entityTypeId": 2})).is_success
        if i % 4 == 2:
            walk = await v2.call_list.make("user.get")  # the seeded users: one short page
            return walk.is_success and 0 < len(walk.get_data()) < 50
        both = await v2.batch.make([("server.time",), ("profile",)])
        return both.is_success and len(both.get_data()) == 2

    async def body(b24: AsyncB24Hook) -> tuple[list[bool], float, int]:
        t0 = time.monotonic()
        res = await asyncio.gather(*[one(b24, i) for i in range(n)])
        return res, time.monotonic() - t0, driver(b24).peak

    results, elapsed, peak = run(fresh, body)
    print(f"{n} tasks: {elapsed:.1f} s, at most {peak} exchanges at once")
    assert all(results)
    st = fresh.stats()
    assert st["query_limit_exceeded"] == 0, st
    assert st["total"] == n and st["by_status"] == {200: n}, st
    assert peak >= 20  # the burst went out at once, not one after another
    assert elapsed > (n - 50) / 2 * 0.8  # paced by the limiter (a lower bound only)


# ------------------------------------------------------------------ cancellation
async def until_sending(b24: AsyncB24Hook, n: int) -> _core.AioMulti:
    """Wait until the v2 driver has ``n`` exchanges on the wire."""
    for _ in range(500):
        held = b24._drivers.get(ApiVersion.V2)
        if held is not None and held[1].sending == n:
            return held[1]
        await asyncio.sleep(0.01)
    raise AssertionError("the calls never reached the wire")


def test_cancelling_mid_transfer_stops_it_and_leaks_nothing(hang: EmulatorPortal) -> None:
    params: dict[str, Any] = {"marker": "m"}

    async def body(b24: AsyncB24Hook) -> None:
        loop = asyncio.get_running_loop()
        warm = await b24.actions.v2.call.make(method="profile")  # a connection, a driver
        assert warm.is_success
        d = driver(b24)
        handlers = len(loop._selector.get_map())  # type: ignore[attr-defined]
        refs: list[int] = []
        futures: list[int] = []
        for _round in range(6):
            tasks = [asyncio.ensure_future(b24.actions.v2.call.make(method="server.time", params=params))
                     for _ in range(3)]
            await until_sending(b24, 3)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with pytest.raises(asyncio.CancelledError):
                    await task
            # the hanging exchanges are gone (not left to answer in 20 s)
            assert (d.active, d.sending, d.sockets) == (0, 0, 0)
            assert len(loop._selector.get_map()) == handlers  # type: ignore[attr-defined]
            del tasks, task
            gc.collect()
            refs.append(sys.getrefcount(params))
            futures.append(sum(isinstance(o, asyncio.Future) for o in gc.get_objects()))
        # the last cancelled call's frames may stay reachable from asyncio's last
        # exception; nothing grows from round to round
        assert refs[1:] == refs[1:2] * 5, refs
        assert futures[1:] == futures[1:2] * 5, futures
        hang.clear_faults()
        res = await b24.actions.v2.call.make(method="server.time")  # the client is still usable
        assert res.is_success
        assert (d.active, d.sending) == (0, 0)

    run(hang, body)


def test_cancelling_mid_wait_drops_the_wait_and_the_next_call_works(fresh: EmulatorPortal) -> None:
    # a client limiter of 1 request then 1/s: the second call waits in the engine's rate gate
    rp = {"rate_limit": {"burst_limit": 1, "drain_rate": 1, "adaptive_enabled": False}}

    async def body(b24: AsyncB24Hook) -> None:
        events: list[str] = []
        logger = logging.getLogger("tests.async.wait")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        handler = _Recorder(events)
        logger.addHandler(handler)
        b24.set_logger(logger)
        first = await b24.actions.v2.call.make(method="server.time")
        assert first.is_success
        d = driver(b24)
        task = asyncio.ensure_future(b24.actions.v2.call.make(method="server.time"))
        for _ in range(500):  # until the call is in the driver (a loaded machine may be slow)
            await asyncio.sleep(0.01)
            if d.active == 1 and any("blocked" in e for e in events):
                break
        assert (d.active, d.sending) == (1, 0)  # waiting, not sending
        assert any("blocked" in e for e in events)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (d.active, d.sending) == (0, 0)
        stats = b24.get_http_client("v2").get_stats()
        assert stats.get("pending_requests", 0) == 0  # the abandoned machine gave its count back
        res = await b24.actions.v2.call.make(method="server.time")
        assert res.is_success

    run(fresh, body, restriction_params=rp)


class _Stop(BaseException):
    """Not an Exception: a logger raising it stops the call (as Ctrl-C would)."""


class _Raiser(logging.Handler):
    def __init__(self, exc: BaseException) -> None:
        super().__init__(logging.DEBUG)
        self.exc = exc

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "http request attempt":  # an event of the C engine
            raise self.exc


def test_an_event_callback_raising_stops_only_a_base_exception(fresh: EmulatorPortal) -> None:
    async def body(b24: AsyncB24Hook) -> None:
        logger = logging.getLogger("tests.async.raiser")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        raiser = _Raiser(RuntimeError("a broken handler"))
        logger.addHandler(raiser)
        b24.set_logger(logger)
        res = await b24.actions.v2.call.make(method="server.time")  # an Exception is swallowed
        assert res.is_success
        raiser.exc = _Stop()
        with pytest.raises(_Stop):
            await b24.actions.v2.call.make(method="server.time")
        d = driver(b24)
        assert (d.active, d.sending) == (0, 0)
        logger.removeHandler(raiser)
        assert (await b24.actions.v2.call.make(method="server.time")).is_success

    run(fresh, body)


class _Recorder(logging.Handler):
    """Keeps the messages of a logger."""

    def __init__(self, out: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        self.out.append(record.getMessage())
