"""The actions of :class:`~b24hook.AsyncB24Hook`: the sync client's actions
(``_hook``, ``_actions_list``, ``_actions_batch``) as coroutines and async
iterators, on the engine's asyncio driver (``_core.AioMulti``).

Nothing here decides a page, a retry or a wait: the page walks are the C walk
machine's (``_core.Walk`` driven through its sans-I/O step interface,
``request()``/``feed()``), each page's and each batch's call is the engine's
(``_pipeline.astart`` / ``await_outcome``), and the preparation of the walks and batches, the
log lines and the shaping of answers are the sync client's own functions.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncGenerator, Callable, Mapping

from . import _core
from ._actions_batch import ChunkMerge, _shape
from ._batch import plan_chunks
from ._actions_list import (V3_LIMIT, WalkPlan, _api_error, _check_desc, _fail_log, _tail_setup,
                            _v2_setup, _v3_setup, aggregate_params, aggregate_result)
from ._batch import Command, _BatchCore, _split_options, parse_calls
from ._enums import ApiVersion
from ._errors import AjaxError, SdkError
from ._export import ResumeArg, aexport_v2
from ._http import AsyncClient, Http, HttpRegistry
from ._logging import LoggerInterface
from ._pipeline import _Prepared, aresult, arun_call, astart, await_outcome
from ._progress import Progress, ProgressArg, make_progress
from ._result import AjaxResult, Result
from ._write_job import arun_write_job

__all__ = ["AsyncPages", "AsyncActionsManager", "AsyncToolsManager", "AsyncClient"]


class _AsyncAction:
    """Base of the async actions and tools: the client and a version."""

    __slots__ = ("_client", "_version")

    def __init__(self, client: AsyncClient, version: ApiVersion) -> None:
        self._client = client
        self._version = version

    @property
    def _logger(self) -> LoggerInterface:
        return self._client._https.get(self._version).logger

    async def _call(self, method: str, params: Any, request_id: str | None) -> AjaxResult:
        http, driver = self._client._driver(self._version)
        return await arun_call(http, driver, method, params, request_id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._version.value}>"


class AsyncCallAction(_AsyncAction):
    """``actions.v2.call`` / ``actions.v3.call`` of :class:`AsyncB24Hook`."""

    __slots__ = ()

    async def make(self, method: str, params: Any = None, request_id: str | None = None) -> AjaxResult:
        """Call one REST method; a soft error gives a failed result, others raise
        :class:`~b24hook.AjaxError` (as ``B24Hook``'s ``make``)."""
        return await self._call(method, params or {}, request_id)


# ---------------------------------------------------------------- the page loop
class _AsyncWalk:
    """The pages of a ``_core.Walk`` (made with ``prepare=None``) driven on the
    loop: the machine says which page to request (``request()``), the page's
    call runs on the client's ``AioMulti``, its Outcome is fed back
    (``feed()``). After the last page, ``failed`` holds the failed call's
    ``AjaxResult`` if the walk stopped on one (as the sync walk's return value).
    ``stop()`` ends the walk from outside, its page's call in flight cancelled."""

    __slots__ = ("_act", "_method", "_request_id", "_label", "_walk", "_warn", "_over", "_flight",
                 "_stopped", "failed")

    def __init__(self, act: _AsyncAction, method: str, request_id: str | None, label: str,
                 plan: WalkPlan) -> None:
        self._act = act
        self._method = method
        self._request_id = request_id
        self._label = label
        self._walk, self._warn = plan
        self._over = False
        self._stopped = False
        # the page's call in flight: its driver and future (stop() cancels it)
        self._flight: tuple[_core.AioMulti, asyncio.Future[_core.Outcome]] | None = None
        self.failed: AjaxResult | None = None

    def stop(self) -> None:
        """End the walk: no further page is requested, and the page's call in flight
        (a ``next_page`` awaiting it in another task) is cancelled; that
        ``next_page`` then returns None."""
        self._over = self._stopped = True
        flight, self._flight = self._flight, None
        if flight is not None:
            flight[0].cancel(flight[1])

    async def next_page(self) -> list[Any] | None:
        """The next page, or None once the walk is over."""
        while not self._over:
            step = self._walk.request()
            if step is None:
                break
            if step[0] == "end":
                if step[1] is not None:
                    self._warn(step[1])
                continue
            try:
                client, version = self._act._client, self._act._version
                http, driver = client._driver(version)
                p = _Prepared(http, self._method, step[1], self._request_id)
                fut = astart(http, driver, p)
                self._flight = (driver, fut)
                try:
                    outcome = await await_outcome(driver, p, fut)
                finally:
                    self._flight = None
                item = self._walk.feed(outcome)
            except asyncio.CancelledError:
                self._over = True
                if self._stopped and not _cancelling():
                    return None  # stop() cancelled the page's call, not the task
                raise
            except BaseException:
                self._over = True  # a refusal, an error or a cancellation ends the walk
                raise
            if item[0] == "page":
                return item[1]
            if item[0] == "end":
                if item[1] is not None:
                    self._warn(item[1])
                continue
            self._over = True  # "answer": the page's call did not succeed
            res = p.finish(http, item[1])
            _fail_log(self._act._logger, self._label, self._method, self._request_id, res)
            self.failed = res
        self._over = True
        return None


def _cancelling() -> bool:
    """Whether the running task is being cancelled (``Task.cancelling``, Python 3.11+;
    on 3.10 a stopped walk's cancellation is taken as the stop's)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False


async def _acollect(walk: _AsyncWalk, progress: Progress | None) -> Result[list[Any]]:
    """Every row of an async walk in one ``Result`` (as ``_actions_list._collect``)."""
    items: list[Any] = []
    try:
        while (page := await walk.next_page()) is not None:
            items.extend(page)
            if progress is not None:
                progress.add(len(page))
    finally:
        if progress is not None:
            progress.close()
    out: Result[list[Any]] = Result(items)
    if walk.failed is not None:
        for key, err in walk.failed.errors.items():
            out.add_error(err, key)
    return out


class AsyncPages:
    """What the async ``fetch_list`` / ``fetch_tail`` return: an async iterator of
    pages (lists of rows), ``async for page in ...``. A walk that stops on a
    failed call raises its ``SdkError`` (as the sync ``Pages``); ``aclose()``
    stops it early."""

    __slots__ = ("_start", "_walk", "_progress", "_on_fail", "_method", "_done", "_reading")

    def __init__(self, start: Callable[[], _AsyncWalk | _AsyncExport],
                 progress: Callable[[], Progress | None],
                 on_fail: Callable[[AjaxResult], SdkError], method: str) -> None:
        self._start: Callable[[], _AsyncWalk | _AsyncExport] | None = start
        self._walk: _AsyncWalk | _AsyncExport | None = None
        self._progress: Callable[[], Progress | None] | Progress | None = progress
        self._on_fail = on_fail
        self._method = method
        self._done = False
        self._reading = False  # an __anext__ is awaiting its page

    def __aiter__(self) -> "AsyncPages":
        return self

    async def __anext__(self) -> list[Any]:
        if self._done:
            raise StopAsyncIteration
        if self._reading:  # as an async generator's anext() refuses, the reader unharmed
            raise RuntimeError(f"{self._method}: another task is awaiting the next page "
                               f"of these pages")
        self._reading = True
        try:
            if self._walk is None:
                assert self._start is not None and callable(self._progress)
                start, self._start = self._start, None
                self._progress = self._progress()
                self._walk = start()
            page = await self._walk.next_page()
            if page is not None and isinstance(self._progress, Progress):
                self._progress.add(len(page))  # a callback raising ends the pages, as sync
        except BaseException:
            self._finish()
            if self._walk is not None:
                self._walk.stop()
            raise
        finally:
            self._reading = False
        if page is None:
            self._finish()
            if self._walk.failed is not None:
                raise self._on_fail(self._walk.failed)
            raise StopAsyncIteration
        return page

    def _finish(self) -> None:
        self._done = True
        progress, self._progress = self._progress, None
        if isinstance(progress, Progress):
            progress.close()

    async def aclose(self) -> None:
        """Stop the walk: no further request is sent, and the page's request in
        flight (another task awaiting the next page) is cancelled; that task's
        ``__anext__`` then ends the iteration. The export's requests in flight are
        stopped (when another task is awaiting its chunk: as that chunk arrives)."""
        self._finish()
        walk = self._walk
        if walk is not None:
            walk.stop()
            if isinstance(walk, _AsyncExport):
                await walk.aclose()

    def __repr__(self) -> str:
        return f"<AsyncPages {self._method}>"


class _AsyncExport:
    """The planned export (``_export.aexport_v2``) as the walk of an
    :class:`AsyncPages`: its chunks are the pages; it reports its own progress."""

    __slots__ = ("_chunks", "_stopped", "failed")

    def __init__(self, chunks: AsyncGenerator[list[Any], None]) -> None:
        self._chunks = chunks
        self._stopped = False
        self.failed: AjaxResult | None = None  # the export raises, never ends failed

    def stop(self) -> None:
        """No further chunk: a reader awaiting one closes the export when it comes."""
        self._stopped = True

    async def next_page(self) -> list[Any] | None:
        if self._stopped:
            return None
        try:
            page = await self._chunks.__anext__()
        except StopAsyncIteration:
            return None
        if self._stopped:  # closed by another task while this chunk was awaited
            await self.aclose()
            return None
        return page

    async def aclose(self) -> None:
        """Close the export (its requests in flight are stopped), unless another
        task is inside it right now: that task closes it (next_page)."""
        self._stopped = True
        if not getattr(self._chunks, "ag_running", False):  # typing has no ag_running
            await self._chunks.aclose()


class AsyncCallListV2(_AsyncAction):
    """``actions.v2.call_list``: every row of a v2 list method in one ``Result``."""

    __slots__ = ()

    async def make(self, method: str, params: Mapping[str, Any] | None = None, id_key: str = "ID",
                   cursor_id_key: str | None = None, custom_key_for_result: str | None = None,
                   request_id: str | None = None, *,
                   progress: ProgressArg = None) -> Result[list[Any]]:
        label = "callFastListMethod"
        plan = _v2_setup(self._logger, method, params, id_key, cursor_id_key,
                         custom_key_for_result, request_id, label, None)
        return await _acollect(_AsyncWalk(self, method, request_id, label, plan),
                               make_progress(progress, method))


class AsyncFetchListV2(_AsyncAction):
    """``actions.v2.fetch_list``: an async iterator of pages (lists of rows)."""

    __slots__ = ()

    def make(self, method: str, params: Mapping[str, Any] | None = None, id_key: str = "ID",
             cursor_id_key: str | None = None, custom_key_for_result: str | None = None,
             request_id: str | None = None, *, progress: ProgressArg = None,
             fast: bool = False, shards: int | None = None, resume: ResumeArg = None) -> AsyncPages:
        """Pages of at most 50 rows: ``async for page in b24.actions.v2.fetch_list.make(...)``;
        with ``fast=True`` the planned export of the sync client (docs/export.md): chunks
        of up to 2,500 rows, ``shards`` at most that many requests at once, resumable
        from ``resume``."""
        if fast:
            def export() -> _AsyncExport:
                return _AsyncExport(aexport_v2(
                    self._client, method, params, id_key=id_key, cursor_id_key=cursor_id_key,
                    custom_key_for_result=custom_key_for_result, request_id=request_id,
                    progress=progress, shards=shards, resume=resume))

            return AsyncPages(export, lambda: None,
                              lambda r: _api_error("JSSDK_CORE_B24_FETCH_LIST_METHOD_API_V2", r), method)
        label = "fetchListMethod"

        def start() -> _AsyncWalk:  # prepared at the first page, as the sync one
            plan = _v2_setup(self._logger, method, params, id_key, cursor_id_key,
                             custom_key_for_result, request_id, label, None)
            return _AsyncWalk(self, method, request_id, label, plan)

        return AsyncPages(start,
                          lambda: make_progress(progress, method),
                          lambda r: _api_error("JSSDK_CORE_B24_FETCH_LIST_METHOD_API_V2", r), method)


class AsyncCallListV3(_AsyncAction):
    """``actions.v3.call_list``."""

    __slots__ = ()

    async def make(self, method: str, params: Mapping[str, Any] | None = None, id_key: str = "id",
                   cursor_id_key: str | None = None, custom_key_for_result: str | None = None,
                   request_id: str | None = None, limit: int = V3_LIMIT, *,
                   progress: ProgressArg = None) -> Result[list[Any]]:
        label = "callFastListMethod"
        plan = _v3_setup(self._logger, method, params, id_key, cursor_id_key,
                         custom_key_for_result, request_id, limit, label, None)
        return await _acollect(_AsyncWalk(self, method, request_id, label, plan),
                               make_progress(progress, method))


class AsyncFetchListV3(_AsyncAction):
    """``actions.v3.fetch_list``: an async iterator of pages."""

    __slots__ = ()

    def make(self, method: str, params: Mapping[str, Any] | None = None, id_key: str = "id",
             cursor_id_key: str | None = None, custom_key_for_result: str | None = None,
             request_id: str | None = None, limit: int = V3_LIMIT, *,
             progress: ProgressArg = None) -> AsyncPages:
        if custom_key_for_result is None:
            raise TypeError(f"{method}: custom_key_for_result is required on v3 lists "
                            f"(the key holding the rows, e.g. 'items')")
        label = "fetchListMethod"

        def start() -> _AsyncWalk:  # prepared at the first page, as the sync one
            plan = _v3_setup(self._logger, method, params, id_key, cursor_id_key,
                             custom_key_for_result, request_id, limit, label, None)
            return _AsyncWalk(self, method, request_id, label, plan)

        return AsyncPages(start,
                          lambda: make_progress(progress, method),
                          lambda r: _api_error("JSSDK_CORE_B24_FETCH_LIST_METHOD_API_V3", r), method)


class AsyncCallTail(_AsyncAction):
    """``actions.v3.call_tail``: walk a ``*.tail`` method with its native cursor."""

    __slots__ = ()

    async def make(self, method: str, params: Mapping[str, Any] | None = None,
                   cursor_field: str = "id", order: str = "ASC",
                   custom_key_for_result: str = "items", request_id: str | None = None,
                   limit: int = V3_LIMIT, initial_value: Any = None, *,
                   progress: ProgressArg = None) -> Result[list[Any]]:
        _check_desc(order, initial_value, "JSSDK_CORE_B24_CALL_TAIL_DESC_REQUIRES_INITIAL_VALUE")
        label = "callTailMethod"
        plan = _tail_setup(self._logger, method, params, cursor_field, order,
                           custom_key_for_result, request_id, limit, initial_value, label, None)
        return await _acollect(_AsyncWalk(self, method, request_id, label, plan),
                               make_progress(progress, method))


class AsyncFetchTail(_AsyncAction):
    """``actions.v3.fetch_tail``: an async iterator of tail pages."""

    __slots__ = ()

    def make(self, method: str, params: Mapping[str, Any] | None = None, cursor_field: str = "id",
             order: str = "ASC", custom_key_for_result: str = "items",
             request_id: str | None = None, limit: int = V3_LIMIT, initial_value: Any = None, *,
             progress: ProgressArg = None) -> AsyncPages:
        label = "fetchTailMethod"

        def start() -> _AsyncWalk:  # checked at the first page, as the sync one
            _check_desc(order, initial_value,
                        "JSSDK_CORE_B24_FETCH_TAIL_DESC_REQUIRES_INITIAL_VALUE")
            plan = _tail_setup(self._logger, method, params, cursor_field, order,
                               custom_key_for_result, request_id, limit, initial_value, label, None)
            return _AsyncWalk(self, method, request_id, label, plan)

        return AsyncPages(start, lambda: make_progress(progress, method),
                          lambda r: _api_error("JSSDK_CORE_B24_FETCH_TAIL_METHOD_API_V3", r), method)


class AsyncAggregate(_AsyncAction):
    """``actions.v3.aggregate`` (experimental, as in the JS SDK)."""

    __slots__ = ()

    async def make(self, method: str, select: Mapping[str, Any],
                   params: Mapping[str, Any] | None = None,
                   request_id: str | None = None) -> Result[Any]:
        send = aggregate_params(select, params)
        res = await self._call(method, send, request_id)
        return aggregate_result(self._logger, method, request_id, res)


# ---------------------------------------------------------------- batches
class _AsyncBatch(_AsyncAction):
    __slots__ = ("_core",)

    def __init__(self, client: AsyncClient, version: ApiVersion) -> None:
        super().__init__(client, version)
        self._core = _BatchCore(client._https.getter(version), version)

    async def _run(self, commands: list[Command], halt: bool,
                   request_id: str | None) -> Result[Any]:
        """One batch request (as ``_BatchCore.run``): body, the call, the shaped answer."""
        body = self._core.body(commands, halt)
        self._core._starting(commands, halt)
        return self._core.shape(commands, halt, await self._call("batch", body, request_id))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._version.value}>"


class AsyncBatchAction(_AsyncBatch):
    """``actions.v2.batch`` / ``actions.v3.batch``."""

    __slots__ = ()

    async def make(self, calls: Any, options: Mapping[str, Any] | None = None, *,
                   is_halt_on_error: bool | None = None, return_ajax_result: bool | None = None,
                   request_id: str | None = None) -> Result[Any]:
        """Up to 50 commands in one request (as ``B24Hook``'s ``batch.make``)."""
        opts = _split_options(options, {"is_halt_on_error": is_halt_on_error,
                                        "return_ajax_result": return_ajax_result,
                                        "request_id": request_id})
        named, commands = parse_calls(calls, opts["is_halt_on_error"])
        core = await self._run(commands, opts["is_halt_on_error"], opts["request_id"])
        return _shape(named, commands, core, opts["return_ajax_result"])


class AsyncBatchByChunkAction(_AsyncBatch):
    """``actions.v2.batch_by_chunk`` / ``actions.v3.batch_by_chunk``."""

    __slots__ = ()

    async def make(self, calls: Any, options: Mapping[str, Any] | None = None, *,
                   is_halt_on_error: bool | None = None,
                   request_id: str | None = None) -> Result[Any]:
        """Any number of commands, in chunks of up to 50 sent concurrently on the
        loop: the same planned job as ``B24Hook``'s ``batch_by_chunk.make``
        (``_write_job.WriteJob``), the same ``Result``."""
        opts = _split_options(options, {"is_halt_on_error": is_halt_on_error,
                                        "request_id": request_id})
        plan = plan_chunks(calls, opts["is_halt_on_error"])
        merge = ChunkMerge(plan)
        if plan.chunks:
            for core in await arun_write_job(self._client, self._version, self._core, plan,
                                             opts["request_id"]):
                merge.add(core)
                await asyncio.sleep(0)  # the loop gets a turn between chunks
        return merge.result()


# ---------------------------------------------------------------- managers
class AsyncActionsV2:
    """REST v2 actions of :class:`AsyncB24Hook` (``b24.actions.v2``)."""

    __slots__ = ("call", "call_list", "fetch_list", "batch", "batch_by_chunk")

    def __init__(self, client: AsyncClient) -> None:
        self.call = AsyncCallAction(client, ApiVersion.V2)
        self.call_list = AsyncCallListV2(client, ApiVersion.V2)
        self.fetch_list = AsyncFetchListV2(client, ApiVersion.V2)
        self.batch = AsyncBatchAction(client, ApiVersion.V2)
        self.batch_by_chunk = AsyncBatchByChunkAction(client, ApiVersion.V2)

    def __repr__(self) -> str:
        return "<AsyncActionsV2>"


class AsyncActionsV3:
    """REST v3 actions of :class:`AsyncB24Hook` (``b24.actions.v3``)."""

    __slots__ = ("call", "call_list", "fetch_list", "call_tail", "fetch_tail", "aggregate",
                 "batch", "batch_by_chunk")

    def __init__(self, client: AsyncClient) -> None:
        self.call = AsyncCallAction(client, ApiVersion.V3)
        self.call_list = AsyncCallListV3(client, ApiVersion.V3)
        self.fetch_list = AsyncFetchListV3(client, ApiVersion.V3)
        self.call_tail = AsyncCallTail(client, ApiVersion.V3)
        self.fetch_tail = AsyncFetchTail(client, ApiVersion.V3)
        self.aggregate = AsyncAggregate(client, ApiVersion.V3)
        self.batch = AsyncBatchAction(client, ApiVersion.V3)
        self.batch_by_chunk = AsyncBatchByChunkAction(client, ApiVersion.V3)

    def __repr__(self) -> str:
        return "<AsyncActionsV3>"


class AsyncActionsManager:
    """``b24.actions`` with ``.v2`` and ``.v3``."""

    __slots__ = ("v2", "v3")

    def __init__(self, client: AsyncClient) -> None:
        self.v2 = AsyncActionsV2(client)
        self.v3 = AsyncActionsV3(client)

    def __repr__(self) -> str:
        return "<AsyncActionsManager v2, v3>"


class AsyncHealthCheckTool(_AsyncAction):
    """``tools.health_check``."""

    __slots__ = ()

    async def make(self, request_id: str | None = None) -> bool:
        """True when v2 ``server.time`` succeeds; never raises (but a cancellation)."""
        try:
            return (await self._call("server.time", {}, request_id)).is_success
        except Exception:  # noqa: BLE001 - a tool never raises
            return False


class AsyncPingTool(_AsyncAction):
    """``tools.ping``."""

    __slots__ = ()

    async def make(self, request_id: str | None = None) -> int:
        """Milliseconds around a v2 ``server.time`` call; -1 if it raises."""
        start = time.monotonic()
        try:
            await self._call("server.time", {}, request_id)
        except Exception:  # noqa: BLE001 - a tool never raises
            return -1
        return int(round((time.monotonic() - start) * 1000.0))


class AsyncToolsManager:
    """``b24.tools`` with ``health_check`` and ``ping``."""

    __slots__ = ("health_check", "ping")

    def __init__(self, client: AsyncClient) -> None:
        self.health_check = AsyncHealthCheckTool(client, ApiVersion.V2)
        self.ping = AsyncPingTool(client, ApiVersion.V2)

    def __repr__(self) -> str:
        return "<AsyncToolsManager health_check, ping>"
