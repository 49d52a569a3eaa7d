"""AsyncB24Hook's lists, tails, aggregate, batch and batch_by_chunk (issue 11, second
slice) against the emulator: every async twin returns what the sync action returns
(data, errors, raised errors), the walks send the same requests, and a cancelled walk
or batch leaves nothing behind."""
from __future__ import annotations

import asyncio
import gc
import logging
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Awaitable, Callable, Iterator

import pytest

from b24hook import AjaxError, AjaxResult, AsyncB24Hook, B24Hook, Result, SdkError, _core
from b24hook._aio_actions import AsyncPages
from b24hook._enums import ApiVersion
from b24hook.emulator import EmulatorPortal

from _async_support import clean, driver, run
from _list_rows import bulk_items, requests_of

ET = 1256  # a smart process: ids 1..130
BIG = 1258  # a smart process: ids 1..3000 (the loop-stall test)


@pytest.fixture(scope="module")
def lp() -> Iterator[EmulatorPortal]:
    p = EmulatorPortal(db=":memory:").start()
    bulk_items(p, ET, 130)
    for i in range(120):
        p.store.log_event("TEST", "main", i, 1)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def fresh(lp: EmulatorPortal) -> EmulatorPortal:
    return clean(lp)


def sync_hook(portal: EmulatorPortal, **kw: Any) -> B24Hook:
    return B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path, **kw)


def plain(value: Any) -> Any:
    """A Result's data with each AjaxResult as (success, status, result)."""
    if isinstance(value, AjaxResult):
        data = value.get_data()
        return (value.is_success, value.get_status(), None if data is None else data["result"])
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def same_result(a: Result[Any], b: Result[Any]) -> None:
    assert a.is_success == b.is_success
    assert plain(a.get_data()) == plain(b.get_data())
    assert list(a.errors) == list(b.errors)
    for key in a.errors:
        ea, eb = a.errors[key], b.errors[key]
        assert type(ea) is type(eb)
        assert (getattr(ea, "code", None), getattr(ea, "status", None)) == \
            (getattr(eb, "code", None), getattr(eb, "status", None))
    assert a.get_error_messages() == b.get_error_messages()


def same_error(a: BaseException, b: BaseException) -> None:
    assert type(a) is type(b)
    assert isinstance(a, SdkError) and isinstance(b, SdkError)
    assert (a.code, a.status, a.message) == (b.code, b.status, b.message)


async def pages_of(it: Any) -> list[list[Any]]:
    return [page async for page in it]


# ---------------------------------------------------------------- lists
LIST_CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("v2", "crm.item.list", {"entityTypeId": ET, "select": ["id", "title"]},
     {"id_key": "id", "custom_key_for_result": "items"}),
    ("v2", "crm.item.list", {"entityTypeId": ET, "filter": {"<=id": 100}, "select": ["id"]},
     {"id_key": "id", "custom_key_for_result": "items"}),                   # exact multiple of 50
    ("v2", "crm.item.list", {"entityTypeId": ET, "filter": {">id": 70}, "select": ["id"]},
     {"id_key": "id", "custom_key_for_result": "items"}),                   # the caller's bound
    ("v2", "crm.item.list", {"entityTypeId": ET, "select": ["id", "title"]},
     {"id_key": "title", "cursor_id_key": "id", "custom_key_for_result": "items"}),  # no int id
    ("v2", "crm.item.list", {"entityTypeId": ET}, {"custom_key_for_result": "nope"}),  # no list
    ("v2", "crm.deal.list", {"select": ["ID"]}, {}),                        # empty
    ("v2", "crm.item.list", {"entityTypeId": 999}, {"id_key": "id", "custom_key_for_result": "items"}),
    ("v3", "crm.item.list", {"entityTypeId": ET, "select": ["id", "title"]},
     {"custom_key_for_result": "items"}),
    ("v3", "crm.item.list", {"entityTypeId": ET, "filter": [["id", "<=", 30]], "select": ["id"]},
     {"custom_key_for_result": "items"}),                                   # short page confirmed
    ("v3", "crm.item.list", {"entityTypeId": ET, "select": ["id"]},
     {"custom_key_for_result": "items", "limit": 20}),
    ("v3", "crm.item.list", {"entityTypeId": 999}, {"custom_key_for_result": "items"}),  # soft error
]


@pytest.mark.parametrize("version,method,params,kw", LIST_CASES)
def test_lists_return_what_the_sync_lists_return(fresh: EmulatorPortal, version: str, method: str,
                                                 params: dict[str, Any], kw: dict[str, Any]) -> None:
    soft = {"soft_error_codes": ["NOT_FOUND"]}
    with sync_hook(fresh, restriction_params=soft) as hook:
        acts = getattr(hook.actions, version)
        want = acts.call_list.make(method, params, **kw)
        sync_requests = requests_of(fresh, method)
        try:
            want_pages: Any = list(acts.fetch_list.make(method, params, **kw))
        except SdkError as exc:
            want_pages = exc
    fresh.reset_stats()

    async def body(b24: AsyncB24Hook) -> tuple[Result[Any], int, Any]:
        acts = getattr(b24.actions, version)
        got = await acts.call_list.make(method, params, **kw)
        n = requests_of(fresh, method)
        try:
            pages: Any = await pages_of(acts.fetch_list.make(method, params, **kw))
        except SdkError as exc:
            pages = exc
        return got, n, pages

    got, async_requests, got_pages = run(fresh, body, restriction_params=soft)
    same_result(want, got)
    assert async_requests == sync_requests  # the same walk: the same pages requested
    if isinstance(want_pages, SdkError):
        same_error(want_pages, got_pages)
    else:
        assert got_pages == want_pages


def test_tails_and_aggregate_return_what_the_sync_ones_return(fresh: EmulatorPortal) -> None:
    with sync_hook(fresh) as hook:
        v3 = hook.actions.v3
        want_tail = v3.call_tail.make("main.eventlog.tail", {"select": ["id"]}, limit=40)
        want_pages = list(v3.fetch_tail.make("main.eventlog.tail", {"select": ["id"]}, limit=40))
        want_agg = v3.aggregate.make("tasks.task.aggregate", {"count": ["id"]})
        want_fail = v3.aggregate.make("no.such.aggregate", {"count": ["id"]})
        errors: list[BaseException] = []
        for thunk in (lambda: v3.call_tail.make("main.eventlog.tail", order="desc"),
                      lambda: next(v3.fetch_tail.make("main.eventlog.tail", order="DESC")),
                      lambda: v3.aggregate.make("crm.item.aggregate", {"median": ["id"]})):
            with pytest.raises(SdkError) as ei:
                thunk()
            errors.append(ei.value)

    async def body(b24: AsyncB24Hook) -> tuple[Any, ...]:
        v3 = b24.actions.v3
        tail = await v3.call_tail.make("main.eventlog.tail", {"select": ["id"]}, limit=40)
        pages = await pages_of(v3.fetch_tail.make("main.eventlog.tail", {"select": ["id"]}, limit=40))
        agg = await v3.aggregate.make("tasks.task.aggregate", {"count": ["id"]})
        fail = await v3.aggregate.make("no.such.aggregate", {"count": ["id"]})
        raised: list[BaseException] = []
        it = v3.fetch_tail.make("main.eventlog.tail", order="DESC")  # raised at the first page
        for coro in (lambda: v3.call_tail.make("main.eventlog.tail", order="desc"),
                     lambda: it.__anext__(),
                     lambda: v3.aggregate.make("crm.item.aggregate", {"median": ["id"]})):
            with pytest.raises(SdkError) as ei:
                await coro()
            raised.append(ei.value)
        return tail, pages, agg, fail, raised

    tail, pages, agg, fail, raised = run(fresh, body)
    assert len(want_tail.get_data()) >= 120
    same_result(want_tail, tail)
    assert pages == want_pages and len(pages) >= 3
    same_result(want_agg, agg)
    assert agg.is_success and isinstance(agg.get_data(), dict)
    same_result(want_fail, fail)
    assert not fail.is_success
    for a, b in zip(errors, raised, strict=True):
        same_error(a, b)


def test_refusals(fresh: EmulatorPortal) -> None:
    async def body(b24: AsyncB24Hook) -> None:
        with pytest.raises(TypeError, match="custom_key_for_result"):
            await b24.actions.v3.call_list.make("crm.item.list", {"entityTypeId": ET})
        with pytest.raises(TypeError, match="custom_key_for_result"):
            b24.actions.v3.fetch_list.make("crm.item.list", {"entityTypeId": ET})
        with pytest.raises(TypeError, match="list of conditions"):
            await b24.actions.v3.call_list.make("crm.item.list", {"filter": {"id": 1}},
                                                custom_key_for_result="items")

    run(fresh, body)
    assert fresh.stats()["total"] == 0


def test_fast_export_returns_what_the_sync_export_returns(fresh: EmulatorPortal) -> None:
    """``fetch_list(fast=True)``: the planned export of the sync client on the loop --
    the same rows, each once, with the same request count; a closed export stops its
    requests in flight and leaves the driver clean; its checkpoint resumes it."""
    params = {"entityTypeId": ET, "select": ["id", "title"]}
    kw: dict[str, Any] = {"id_key": "id", "custom_key_for_result": "items", "fast": True}
    with sync_hook(fresh) as hook:
        want = sorted((r for c in hook.actions.v2.fetch_list.make("crm.item.list", params, **kw)
                       for r in c), key=lambda r: r["id"])
    sync_requests = fresh.stats()["total"]
    assert len(want) == 130
    fresh.reset_stats()

    async def body(b24: AsyncB24Hook) -> tuple[list[Any], list[Any], list[Any]]:
        got = [r async for c in b24.actions.v2.fetch_list.make("crm.item.list", params, **kw)
               for r in c]
        token: dict[str, Any] = {}
        it = b24.actions.v2.fetch_list.make("crm.item.list", params, shards=1, resume=token, **kw)
        first = await it.__anext__()
        await it.aclose()
        assert driver(b24).active == 0 and driver(b24).sending == 0
        with pytest.raises(StopAsyncIteration):
            await it.__anext__()
        rest = [r async for c in b24.actions.v2.fetch_list.make("crm.item.list", params, shards=1,
                                                                 resume=token, **kw) for r in c]
        # closed by another task while a reader awaits its chunk: the reader ends
        it = b24.actions.v2.fetch_list.make("crm.item.list", params, **kw)
        reader = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0)  # the reader is inside the export, its probe in flight
        await it.aclose()
        with pytest.raises(StopAsyncIteration):
            await reader
        assert driver(b24).active == 0 and driver(b24).sending == 0
        return got, first, rest

    got, first, rest = run(fresh, body)
    assert sorted(got, key=lambda r: r["id"]) == want
    assert len({r["id"] for r in got}) == 130
    ids = [r["id"] for r in first] + [r["id"] for r in rest]
    assert set(ids) == set(range(1, 131))
    # only the chunk in hand when the export stopped may be read twice
    assert len(ids) <= 130 + len(first)
    assert fresh.stats()["total"] >= sync_requests


def test_progress_and_early_close(fresh: EmulatorPortal) -> None:
    calls: list[tuple[int, Any]] = []

    async def body(b24: AsyncB24Hook) -> None:
        params = {"entityTypeId": ET, "select": ["id"]}
        await b24.actions.v2.call_list.make("crm.item.list", params, id_key="id",
                                            custom_key_for_result="items",
                                            progress=lambda n, total: calls.append((n, total)))
        it = b24.actions.v2.fetch_list.make("crm.item.list", params, id_key="id",
                                            custom_key_for_result="items")
        assert len(await it.__anext__()) == 50
        await it.aclose()
        with pytest.raises(StopAsyncIteration):
            await it.__anext__()

    run(fresh, body)
    assert calls == [(50, None), (100, None), (130, None)]
    assert requests_of(fresh, "crm.item.list") == 4  # 3 pages, then 1 of the closed walk


def test_a_progress_callback_raising_ends_the_pages_as_sync(fresh: EmulatorPortal) -> None:
    """A progress callback raising on the first page: the error is raised by that page's
    next(), and the pages are over (no further request), with sync and async alike."""
    params = {"entityTypeId": ET, "select": ["id"]}

    def boom(n: int, total: Any) -> None:
        raise ValueError("progress callback failed")

    with sync_hook(fresh) as hook:
        pages = hook.actions.v2.fetch_list.make("crm.item.list", params, id_key="id",
                                                custom_key_for_result="items", progress=boom)
        with pytest.raises(ValueError, match="progress callback failed"):
            next(pages)
        with pytest.raises(StopIteration):
            next(pages)
    sent = requests_of(fresh, "crm.item.list")

    async def body(b24: AsyncB24Hook) -> None:
        it = b24.actions.v2.fetch_list.make("crm.item.list", params, id_key="id",
                                            custom_key_for_result="items", progress=boom)
        with pytest.raises(ValueError, match="progress callback failed"):
            await it.__anext__()
        with pytest.raises(StopAsyncIteration):
            await it.__anext__()

    run(fresh, body)
    assert requests_of(fresh, "crm.item.list") == 2 * sent == 2


async def _second_page_on_the_wire(
        b24: AsyncB24Hook, portal: EmulatorPortal) -> tuple[AsyncPages, _core.AioMulti, Any]:
    """A fetch_list read for one page, then a task awaiting its second page, whose
    request hangs (20 s) on the wire: (the pages, the driver, the task)."""
    it = b24.actions.v2.fetch_list.make("crm.item.list", {"entityTypeId": ET, "select": ["id"]},
                                        id_key="id", custom_key_for_result="items")
    assert len(await it.__anext__()) == 50
    portal.inject("hang", method="crm.item.list", delay=20, fraction=1.0)
    d = driver(b24)
    nxt = asyncio.ensure_future(it.__anext__())
    for _ in range(500):
        if d.sending == 1:
            break
        await asyncio.sleep(0.01)
    assert d.sending == 1
    return it, d, nxt


def test_aclose_stops_the_page_request_in_flight(fresh: EmulatorPortal) -> None:
    """``aclose()`` while another task awaits the next page cancels that page's
    request at once (it would hang 20 s): the waiting ``__anext__`` ends the
    iteration, the driver is left with nothing in flight, the next call works."""
    async def body(b24: AsyncB24Hook) -> None:
        it, d, nxt = await _second_page_on_the_wire(b24, fresh)
        await it.aclose()
        assert (d.active, d.sending) == (0, 0)  # cancelled by aclose itself
        with pytest.raises(StopAsyncIteration):
            await nxt
        assert (d.active, d.sending, d.sockets) == (0, 0, 0)
        with pytest.raises(StopAsyncIteration):
            await it.__anext__()
        fresh.clear_faults()
        assert (await b24.actions.v2.call.make(method="profile")).is_success

    run(fresh, body)


def test_a_second_reader_is_refused_and_the_first_reads_on(fresh: EmulatorPortal) -> None:
    """Two tasks awaiting the next page of one AsyncPages: the second is refused with
    RuntimeError (as an async generator's anext() is), the first gets its page and
    the pages go on."""
    async def body(b24: AsyncB24Hook) -> None:
        it = b24.actions.v2.fetch_list.make("crm.item.list", {"entityTypeId": ET, "select": ["id"]},
                                            id_key="id", custom_key_for_result="items")
        nxt = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0)  # the first reader runs up to its page's request
        with pytest.raises(RuntimeError, match="another task"):
            await it.__anext__()
        sizes = [len(await nxt)] + [len(page) async for page in it]
        assert sizes == [50, 50, 30]

    run(fresh, body)


def test_a_task_cancelled_while_its_pages_are_closed_stays_cancelled(fresh: EmulatorPortal) -> None:
    """A task awaiting the next page that is itself cancelled gets CancelledError even
    when the pages are closed in the same turn (the close does not swallow it)."""
    async def body(b24: AsyncB24Hook) -> None:
        it, d, nxt = await _second_page_on_the_wire(b24, fresh)
        nxt.cancel()
        await it.aclose()
        with pytest.raises(asyncio.CancelledError):
            await nxt
        assert (d.active, d.sending) == (0, 0)
        fresh.clear_faults()

    run(fresh, body)


# ---------------------------------------------------------------- batches
def _rows(n: int) -> list[Any]:
    return [("crm.item.get", {"entityTypeId": ET, "id": 1 + i % 150}) for i in range(n)]


BATCH_CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("v2", [("server.time",), {"method": "crm.item.get", "params": {"entityTypeId": ET, "id": 3}}], {}),
    ("v2", {"a": ("crm.item.get", {"entityTypeId": ET, "id": 1}),
            "b": ("crm.item.get", {"entityTypeId": ET, "id": 10**6})}, {"is_halt_on_error": False}),
    ("v2", {"a": ("crm.item.get", {"entityTypeId": ET, "id": 1}),
            "b": ("crm.item.get", {"entityTypeId": ET, "id": 10**6})},
     {"is_halt_on_error": False, "return_ajax_result": True}),
    ("v3", [("tasks.task.get", {"id": 1}), ("tasks.task.get", {"id": 10**9})], {}),
]


@pytest.mark.parametrize("version,calls,kw", BATCH_CASES)
def test_batch_returns_what_the_sync_batch_returns(fresh: EmulatorPortal, version: str, calls: Any,
                                                   kw: dict[str, Any]) -> None:
    with sync_hook(fresh) as hook:
        want = getattr(hook.actions, version).batch.make(calls, **kw)

    async def body(b24: AsyncB24Hook) -> Result[Any]:
        return await getattr(b24.actions, version).batch.make(calls, **kw)

    same_result(want, run(fresh, body))


CHUNK_CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("v2", _rows(170), {}),                                                      # 4 chunks
    ("v2", {f"k{i}": row for i, row in enumerate(_rows(120))}, {}),              # named
    ("v2", _rows(60), {"is_halt_on_error": False}),                              # ids > 130 fail
    ("v3", [("tasks.task.get", {"id": 1 + i % 3}) for i in range(75)], {}),
    ("v2", [], {}),
]


@pytest.mark.parametrize("version,calls,kw", CHUNK_CASES)
def test_batch_by_chunk_returns_what_the_sync_one_returns(fresh: EmulatorPortal, version: str,
                                                          calls: Any, kw: dict[str, Any]) -> None:
    with sync_hook(fresh) as hook:
        want = getattr(hook.actions, version).batch_by_chunk.make(calls, **kw)
    n_sync = requests_of(fresh, "batch")
    fresh.reset_stats()

    async def body(b24: AsyncB24Hook) -> Result[Any]:
        return await getattr(b24.actions, version).batch_by_chunk.make(calls, **kw)

    got = run(fresh, body)
    same_result(want, got)
    assert requests_of(fresh, "batch") == n_sync


def test_batch_errors_are_raised_as_by_the_sync_batch(fresh: EmulatorPortal) -> None:
    bad_calls: list[Any] = [
        [],                                                   # empty batch
        [("server.time",)] * 51,                              # too large for one batch
        [{"nomethod": 1}],                                    # a broken row
        "server.time",                                        # not a list
    ]
    with sync_hook(fresh) as hook:
        want: list[BaseException] = []
        for calls in bad_calls:
            with pytest.raises((SdkError, ValueError, TypeError)) as ei:
                hook.actions.v2.batch.make(calls)
            want.append(ei.value)
        # a hard error of one chunk's request: raised, in chunk order
        fresh.inject("error500", method="batch", fraction=1.0)
        try:
            with pytest.raises(AjaxError) as ei:
                hook.actions.v2.batch_by_chunk.make(_rows(120))
            want_chunk = ei.value
        finally:
            fresh.clear_faults()

    async def body(b24: AsyncB24Hook) -> tuple[list[BaseException], BaseException]:
        got: list[BaseException] = []
        for calls in bad_calls:
            with pytest.raises((SdkError, ValueError, TypeError)) as ei:
                await b24.actions.v2.batch.make(calls)
            got.append(ei.value)
        fresh.inject("error500", method="batch", fraction=1.0)
        try:
            with pytest.raises(AjaxError) as ej:
                await b24.actions.v2.batch_by_chunk.make(_rows(120))
        finally:
            fresh.clear_faults()
        d = driver(b24)
        assert (d.active, d.sending) == (0, 0)
        return got, ej.value

    got, got_chunk = run(fresh, body)
    for a, b in zip(want, got, strict=True):
        assert type(a) is type(b) and str(a) == str(b)
    same_error(want_chunk, got_chunk)
    assert got_chunk.code == want_chunk.code and got_chunk.status == 500


# ---------------------------------------------------------------- cancellation
def test_cancelling_a_walk_or_a_batch_leaks_nothing(fresh: EmulatorPortal) -> None:
    params: dict[str, Any] = {"entityTypeId": ET, "select": ["id"]}

    async def body(b24: AsyncB24Hook) -> None:
        assert (await b24.actions.v2.call.make(method="profile")).is_success
        d = driver(b24)
        refs: list[int] = []
        for _round in range(5):
            fresh.inject("hang", method="crm.item.list", delay=20, fraction=1.0)
            fresh.inject("hang", method="batch", delay=20, fraction=1.0)
            walk = asyncio.ensure_future(b24.actions.v2.call_list.make(
                "crm.item.list", params, id_key="id", custom_key_for_result="items"))
            chunks = asyncio.ensure_future(b24.actions.v2.batch_by_chunk.make(_rows(120)))
            for _ in range(500):
                if d.sending == 4:  # one page, and the three chunks (the first wave: all at once)
                    break
                await asyncio.sleep(0.01)
            assert d.sending == 4
            walk.cancel()
            chunks.cancel()
            for task in (walk, chunks):
                with pytest.raises(asyncio.CancelledError):
                    await task
            # the hanging exchanges are gone (not left to answer in 20 s)
            assert (d.active, d.sending, d.sockets) == (0, 0, 0)
            fresh.clear_faults()
            del walk, chunks, task
            gc.collect()
            refs.append(sys.getrefcount(params))
        assert refs[1:] == refs[1:2] * 4, refs
        res = await b24.actions.v2.call_list.make("crm.item.list", params, id_key="id",
                                                  custom_key_for_result="items")
        assert len(res.get_data()) == 130
        assert (d.active, d.sending) == (0, 0)

    run(fresh, body)


def test_closing_the_client_under_a_batch_by_chunk_leaves_no_loop_report(
        fresh: EmulatorPortal) -> None:
    """aclose() while three chunks hang: the batch raises the closed client's error, and
    the other chunks' failed futures are read (asyncio reports no 'exception was never
    retrieved')."""
    reports: list[Any] = []

    async def body(b24: AsyncB24Hook) -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _l, ctx: reports.append(ctx))
        assert (await b24.actions.v2.call.make(method="profile")).is_success
        d = driver(b24)
        fresh.inject("hang", method="batch", delay=20, fraction=1.0)
        chunks = asyncio.ensure_future(b24.actions.v2.batch_by_chunk.make(_rows(150)))
        for _ in range(500):
            if d.sending == 3:
                break
            await asyncio.sleep(0.01)
        assert d.sending == 3
        await b24.aclose()
        try:  # not pytest.raises: its ExceptionInfo would keep the batch's frame alive
            await chunks
        except SdkError as exc:
            assert "closed" in str(exc)
        else:
            pytest.fail("the batch did not fail with the closed client's error")
        # a failed future nobody read would be reported when collected: none is left
        unread = [f for f in gc.get_objects() if isinstance(f, asyncio.Future) and f.done()
                  and not f.cancelled() and f._log_traceback]
        assert unread == []
        del chunks
        fresh.clear_faults()

    run(fresh, body)
    gc.collect()
    assert reports == [], [c.get("message") for c in reports]


# ---------------------------------------------------------------- the loop never stalls
@pytest.fixture(scope="module")
def apart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """An emulator in its own process with 10,000 demo records (2,000 deals, 3,000
    contacts): the loop's timing then measures this process's work only."""
    ca = str(tmp_path_factory.mktemp("apart") / "ca.pem")
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "b24hook.emulator", "--seed-demo", "10000",
         "--ca-file", ca, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("v2 webhook:"):
                url = line.split(":", 1)[1].strip()
                break
        assert url, "the emulator did not start"
        yield url, ca
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _SlowCallbacks(logging.Handler):
    """asyncio's debug-mode reports of callbacks slower than slow_callback_duration."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.slow: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("Executing "):
            self.slow.append(text)


@pytest.mark.cpu_bound  # deselected under ASan: its 20 ms bound is for the plain build
def test_no_callback_stalls_the_loop_during_a_large_pull_export_and_batch(
        apart: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """No callback of the loop takes over 20 ms while a 3,000-row pull, the
    3,000-row planned export, a 1,500-command batch_by_chunk, a 2,000-row call_list and 50 calls run.

    asyncio's own accounting (debug mode, slow_callback_duration=0.02) reports the
    callbacks slower than 20 ms of wall time; on a shared 2-core machine the OS may
    take the CPU away in the middle of any of them, so each callback's thread CPU
    time is measured too, and the test fails on a callback that *worked* over 20 ms
    (every callback asyncio reports must be one of those that only waited for the
    CPU). The heartbeat's longest gap and asyncio's reports are printed."""
    url, ca = apart
    worked: list[str] = []
    run_handle = asyncio.events.Handle._run

    def timed(handle: asyncio.Handle) -> None:
        t0 = time.thread_time()
        try:
            run_handle(handle)
        finally:
            cpu = time.thread_time() - t0
            if cpu > 0.02:
                worked.append(f"{handle!r} worked {cpu * 1000:.1f} ms")

    monkeypatch.setattr(asyncio.events.Handle, "_run", timed)
    # the client's limiter opened up: the requests go out as fast as the loop takes them
    fast = {"rate_limit": {"burst_limit": 10_000, "drain_rate": 1_000, "adaptive_enabled": False}}
    report = _SlowCallbacks()

    async def body() -> tuple[float, int, Result[Any], int]:
        loop = asyncio.get_running_loop()
        async with AsyncB24Hook.from_webhook_url(url, verify=ca, restriction_params=fast) as b24:
            await b24.actions.v2.call.make(method="profile")  # the driver and a connection exist
            gaps: list[float] = []
            stop = asyncio.Event()

            async def heartbeat() -> None:
                last = time.monotonic()
                while not stop.is_set():
                    await asyncio.sleep(0.005)
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now

            beat = asyncio.ensure_future(heartbeat())
            loop.slow_callback_duration = 0.02
            logging.getLogger("asyncio").addHandler(report)
            worked.clear()  # from here on
            try:
                rows = 0
                async for page in b24.actions.v2.fetch_list.make("crm.contact.list", {"select": ["*"]}):
                    rows += len(page)
                exported = 0  # the planned export: up to 2,500 rows an answer
                async for page in b24.actions.v2.fetch_list.make("crm.contact.list", {"select": ["*"]},
                                                                 fast=True):
                    exported += len(page)
                assert exported == 3000
                chunks, pulled, *calls = await asyncio.gather(
                    b24.actions.v2.batch_by_chunk.make(
                        [("crm.deal.get", {"ID": 1 + i % 2000}) for i in range(1500)]),
                    b24.actions.v2.call_list.make("crm.deal.list", {"select": ["*"]}),
                    *[b24.actions.v2.call.make("crm.deal.list", {"select": ["*"]})
                      for _ in range(50)])  # and 50 calls of 50 rows at once
                assert all(c.is_success and len(c.get_data()["result"]) == 50 for c in calls)
            finally:
                logging.getLogger("asyncio").removeHandler(report)
                stop.set()
                await beat
            return max(gaps), rows, chunks, len(pulled.get_data())

    # the suite's own heap (pytest, the earlier tests) is frozen out of the
    # collector, so a full collection during the workload walks its objects only,
    # as in a server process, not every object the test run made before
    gc.collect()
    gc.freeze()
    try:
        worst, rows, chunks, deals = asyncio.run(body(), debug=True)
    finally:
        gc.unfreeze()
    print(f"the longest gap between heartbeats: {worst * 1000:.1f} ms; "
          f"callbacks over 20 ms: {len(report.slow)}")
    for line in report.slow:
        print("  asyncio:", line)
    assert rows == 3000 and deals == 2000
    assert chunks.is_success and len(chunks.get_data()) == 1500
    assert worked == [], (worked, report.slow)


# ---------------------------------------------------------------- loops: uvloop, threads, Jupyter, fork
def _parity_subset(portal: EmulatorPortal) -> tuple[Any, ...]:
    """What the subset of actions checked on other loops returns with the sync client."""
    with sync_hook(portal) as hook:
        v2, v3 = hook.actions.v2, hook.actions.v3
        return (plain(v2.call.make("crm.item.get", {"entityTypeId": ET, "id": 5}).get_data()["result"]),
                plain(v2.call_list.make("crm.item.list", {"entityTypeId": ET, "select": ["id"]},
                                        id_key="id", custom_key_for_result="items").get_data()),
                list(v3.fetch_list.make("crm.item.list", {"entityTypeId": ET, "select": ["id"]},
                                        custom_key_for_result="items", limit=40)),
                plain(v3.call_tail.make("main.eventlog.tail", {"select": ["id"]}).get_data()),
                plain(v2.batch_by_chunk.make(_rows(120)).get_data()))


async def _async_subset(b24: AsyncB24Hook) -> tuple[Any, ...]:
    v2, v3 = b24.actions.v2, b24.actions.v3
    one, walk, pages, tail, chunks = await asyncio.gather(
        v2.call.make("crm.item.get", {"entityTypeId": ET, "id": 5}),
        v2.call_list.make("crm.item.list", {"entityTypeId": ET, "select": ["id"]}, id_key="id",
                          custom_key_for_result="items"),
        pages_of(v3.fetch_list.make("crm.item.list", {"entityTypeId": ET, "select": ["id"]},
                                    custom_key_for_result="items", limit=40)),
        v3.call_tail.make("main.eventlog.tail", {"select": ["id"]}),
        v2.batch_by_chunk.make(_rows(120)))
    return (plain(one.get_data()["result"]), plain(walk.get_data()), pages,
            plain(tail.get_data()), plain(chunks.get_data()))


def test_uvloop_runs_the_same_actions(fresh: EmulatorPortal) -> None:
    uvloop = pytest.importorskip("uvloop")
    want = _parity_subset(fresh)

    async def main() -> tuple[Any, ...]:
        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        async with AsyncB24Hook.from_webhook_url(fresh.v2_url, verify=fresh.ca_path) as b24:
            got = await _async_subset(b24)
            d = driver(b24)
            assert (d.active, d.sending) == (0, 0)
            return got

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(main()) == want


def test_one_client_per_loop_in_several_threads(fresh: EmulatorPortal) -> None:
    want = _parity_subset(fresh)
    shared = AsyncB24Hook.from_webhook_url(fresh.v2_url, verify=fresh.ca_path)
    out: dict[int, Any] = {}

    async def own(k: int) -> None:
        async with AsyncB24Hook.from_webhook_url(fresh.v2_url, verify=fresh.ca_path) as b24:
            out[k] = await _async_subset(b24)

    async def foreign() -> None:
        await shared.actions.v2.call.make("server.time")

    def worker(k: int) -> None:
        try:
            asyncio.run(own(k))
        except BaseException as exc:  # noqa: BLE001 - reported below
            out[k] = exc

    async def first_loop() -> None:  # `shared` belongs to this thread's loop
        assert (await shared.actions.v2.call.make("server.time")).is_success
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        try:
            err: list[BaseException] = []
            probe = threading.Thread(target=lambda: err.extend(_raised(foreign)))
            probe.start()
            await asyncio.to_thread(probe.join)
            assert len(err) == 1 and isinstance(err[0], RuntimeError)
            assert "one client per event loop" in str(err[0])
            assert (await shared.actions.v2.call.make("server.time")).is_success  # still fine here
        finally:
            for t in threads:
                await asyncio.to_thread(t.join)
            await shared.aclose()

    asyncio.run(first_loop())
    assert out == {0: want, 1: want, 2: want}


def _raised(coro_fn: Callable[[], Awaitable[Any]]) -> list[BaseException]:
    try:
        asyncio.run(coro_fn())  # type: ignore[arg-type]
    except BaseException as exc:  # noqa: BLE001
        return [exc]
    return []


def test_await_from_a_jupyter_kernel(fresh: EmulatorPortal) -> None:
    """Top-level ``await`` in an IPython kernel (its loop already running), cell after cell."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    cells = [
        "from b24hook import AsyncB24Hook\n"
        f"b24 = AsyncB24Hook.from_webhook_url({fresh.v2_url!r}, verify={fresh.ca_path!r})",
        "res = await b24.actions.v2.call.make('crm.item.get', {'entityTypeId': %d, 'id': 5})\n"
        "assert res.get_data()['result']['item']['id'] == 5" % ET,
        "pages = [p async for p in b24.actions.v2.fetch_list.make('crm.item.list', "
        "{'entityTypeId': %d, 'select': ['id']}, id_key='id', custom_key_for_result='items')]\n"
        "assert sum(map(len, pages)) == 130" % ET,
        "chunks = await b24.actions.v2.batch_by_chunk.make([('server.time',)] * 60)\n"
        "assert len(chunks.get_data()) == 60\n"
        "await b24.aclose()\n"
        "print('kernel ok')",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    assert "kernel ok" in nb.cells[-1].outputs[0]["text"]


FORK_SCRIPT = textwrap.dedent(r'''
    import asyncio, os, sys
    from b24hook import AsyncB24Hook
    url, ca = sys.argv[1], sys.argv[2]
    b24 = AsyncB24Hook.from_webhook_url(url, verify=ca, restriction_params={
        "rate_limit": {"burst_limit": 100000, "drain_rate": 100000}})
    loop = asyncio.new_event_loop()

    async def add():
        ids = []
        for i in range(20):
            r = await b24.actions.v2.call.make("crm.item.add", {"entityTypeId": 2,
                                                                "fields": {"title": f"afork-{i}"}})
            ids.append(r.get_data()["result"]["item"]["id"])
        return ids

    ids = loop.run_until_complete(add())   # the client ran on this loop: connections pooled

    async def mine(idx):
        bad = 0
        for _ in range(3):
            res = await asyncio.gather(*[b24.actions.v2.call.make(
                "crm.item.get", {"entityTypeId": 2, "id": ids[i]}) for i in idx])
            bad += sum(r.get_data()["result"]["item"]["title"] != f"afork-{i}"
                       for i, r in zip(idx, res))
        rows = await b24.actions.v2.call_list.make("crm.item.list", {"entityTypeId": 2,
                                                   "select": ["id"]}, id_key="id",
                                                   custom_key_for_result="items")
        bad += sorted(r["id"] for r in rows.get_data())[-20:] != sorted(ids)
        return bad

    pid = os.fork()
    if pid == 0:
        try:
            bad = asyncio.run(mine(range(0, 20, 2)))   # the child's own loop
        except BaseException as exc:  # noqa: BLE001
            print("child error", type(exc).__name__, exc, flush=True)
            os._exit(3)
        os._exit(1 if bad else 0)
    bad = loop.run_until_complete(mine(range(1, 20, 2)))
    _, st = os.waitpid(pid, 0)
    child = os.waitstatus_to_exitcode(st)
    bad += loop.run_until_complete(mine(range(20)))  # the parent still works after the child left
    loop.run_until_complete(b24.aclose())
    loop.close()
    print("OK" if bad == 0 and child == 0 else f"MIXED parent_bad={bad} child_exit={child}", flush=True)
''')


def test_a_client_used_before_fork_works_in_parent_and_child(lp: EmulatorPortal) -> None:
    proc = subprocess.run([sys.executable, "-c", FORK_SCRIPT, lp.v2_url, lp.ca_path],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("OK"), proc.stdout + proc.stderr


def test_cancelling_a_walk_or_a_batch_mid_wait_drops_the_waits(fresh: EmulatorPortal) -> None:
    """A client limiter of 1 request, then 1/s: a walk's second page and a chunk of a
    batch_by_chunk (the planner keeps one in flight: the burst is 1) wait in the engine's
    rate gate; cancelling them drops the waits, the limiter's counts are given back and
    the next call goes out at once."""
    rp = {"rate_limit": {"burst_limit": 1, "drain_rate": 1, "adaptive_enabled": False}}
    params = {"entityTypeId": ET, "select": ["id"]}

    async def body(b24: AsyncB24Hook) -> None:
        walk = asyncio.ensure_future(b24.actions.v2.call_list.make(
            "crm.item.list", params, id_key="id", custom_key_for_result="items"))
        chunks = asyncio.ensure_future(b24.actions.v2.batch_by_chunk.make(_rows(120)))
        for _ in range(500):
            await asyncio.sleep(0.01)
            held = b24._drivers.get(ApiVersion.V2)
            if held is not None and held[1].active == 2 and held[1].sending == 0:
                break  # the walk's second page and one chunk, both waiting
        d = driver(b24)
        assert (d.active, d.sending) == (2, 0)
        walk.cancel()
        chunks.cancel()
        for task in (walk, chunks):
            with pytest.raises(asyncio.CancelledError):
                await task
        assert (d.active, d.sending) == (0, 0)
        stats = b24.get_http_client("v2").get_stats()
        assert stats.get("pending_requests", 0) == 0
        b24.set_restriction_manager_params({"rate_limit": {"burst_limit": 50, "drain_rate": 2}})
        res = await b24.actions.v2.call_list.make("crm.item.list", params, id_key="id",
                                                  custom_key_for_result="items")
        assert len(res.get_data()) == 130

    run(fresh, body, restriction_params=rp)


def test_list_hard_errors_are_raised_as_by_the_sync_lists(fresh: EmulatorPortal) -> None:
    """Without a soft code, a failed v2 page's hard error is raised by the walks, sync or
    async (v3 errors are soft by default: LIST_CASES compares those results)."""
    params = {"entityTypeId": 999}
    kw: dict[str, Any] = {"id_key": "id", "custom_key_for_result": "items"}
    with sync_hook(fresh) as hook:
        want: list[BaseException] = []
        for thunk in (lambda: hook.actions.v2.call_list.make("crm.item.list", params, **kw),
                      lambda: list(hook.actions.v2.fetch_list.make("crm.item.list", params, **kw))):
            with pytest.raises(SdkError) as ei:
                thunk()
            want.append(ei.value)

    async def body(b24: AsyncB24Hook) -> list[BaseException]:
        got: list[BaseException] = []
        for thunk in (lambda: b24.actions.v2.call_list.make("crm.item.list", params, **kw),
                      lambda: pages_of(b24.actions.v2.fetch_list.make("crm.item.list", params, **kw))):
            with pytest.raises(SdkError) as ei:
                await thunk()
            got.append(ei.value)
        assert (driver(b24).active, driver(b24).sending) == (0, 0)
        return got

    got = run(fresh, body)
    assert [type(e) for e in want] == [AjaxError] * 2
    for a, b in zip(want, got, strict=True):
        same_error(a, b)
