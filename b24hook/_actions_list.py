"""List walkers: v2 ``call_list``/``fetch_list`` (§6.2), v3 ``call_list``/
``fetch_list`` (§6.3), ``call_tail``/``fetch_tail`` (§6.4) and ``aggregate``
(§6.5).

Each walker is a generator of pages that returns the failed ``AjaxResult``
(or None) when it ends. The page loop is the C core's (``_core.Walk`` over
the ``b24_walk`` machine): it puts the cursor into each page's params, runs
each page's call through the engine, reads the page and decides when the
walk ends and why. Python prepares the base params, warns about the
caller's input, prepares each call as ``run_call`` does (``_Prepared``) and
turns the walk's end reasons and failed answers into log lines, results and
errors; items are never looped over in Python (pages are extended in C).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Final, Generator, Iterator, Literal, Mapping

from . import _core
from ._enums import ApiVersion
from ._errors import SdkError
from ._http import Http, HttpRegistry
from ._logging import LoggerInterface, LogLevel, emit
from ._pipeline import _Prepared
from ._progress import Progress, ProgressArg, make_progress
from ._result import AjaxResult, Result

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from ._export import ResumeArg
    from .frames import Schema

__all__ = [
    "CallListV2", "FetchListV2", "CallListV3", "FetchListV3", "CallTail", "FetchTail",
    "Aggregate", "Pages",
]

#: Rows of a v2 page and the default v3 ``limit`` (csrc/core/b24_protocol.h).
V2_PAGE: Final = _core.V2_PAGE_SIZE
V3_LIMIT: Final = _core.V3_PAGE_DEFAULT
Walk = Generator[list[Any], None, AjaxResult | None]
#: A ``_core.Walk`` made ready for a driver, and its ``warn(reason)`` for a named end.
WalkPlan = tuple[_core.Walk, Callable[[str], None]]


def _fail_log(logger: LoggerInterface, label: str, method: str, request_id: str | None,
              res: AjaxResult) -> None:
    emit(logger, LogLevel.ERROR, label, {
        "method": method, "request_id": request_id, "messages": res.get_error_messages(),
    }, area="list")


def _api_error(code: str, res: AjaxResult) -> SdkError:
    return SdkError(code, 500, "API Error: " + "; ".join(res.get_error_messages()))


class _Action:
    """Base of every action and tool (``actions.v2.call``, the list walks, ``tools.ping``...).

    It holds its client's :class:`~b24hook._http.HttpRegistry` and its version,
    and reads its ``Http`` there at each use (a transport may be swapped).
    """

    __slots__ = ("_https", "_version")

    def __init__(self, https: HttpRegistry, version: ApiVersion) -> None:
        self._https = https
        self._version = version

    @property
    def _http(self) -> Http:
        """The current transport of this action's version (the client may be closed)."""
        return self._https.get(self._version)

    @property
    def _logger(self) -> LoggerInterface:
        return self._http.logger

    def _call(self, method: str, params: Any, request_id: str | None) -> AjaxResult:
        return self._https.live(self._version).call(method, params, request_id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._version.value}>"


def _collect(walk: Walk, progress: Progress | None) -> Result[list[Any]]:
    """Every row of a walk in one ``Result``, with the failed call's errors if it stopped on one."""
    items: list[Any] = []
    try:
        while True:
            page = next(walk)
            items.extend(page)
            if progress is not None:
                progress.add(len(page))
    except StopIteration as stop:
        out: Result[list[Any]] = Result(items)
        failed: AjaxResult | None = stop.value
        if failed is not None:
            for key, err in failed.errors.items():
                out.add_error(err, key)
        return out
    finally:
        if progress is not None:
            progress.close()


def _iterate(walk: Walk, progress: Progress | None, on_fail: Callable[[AjaxResult], SdkError]) -> Iterator[list[Any]]:
    try:
        while True:
            try:
                page = next(walk)
            except StopIteration as stop:
                if stop.value is not None:
                    raise on_fail(stop.value) from None
                return
            if progress is not None:
                progress.add(len(page))
            yield page
    finally:
        if progress is not None:
            progress.close()


# ---------------------------------------------------------------- pages
class Pages(Iterator[list[Any]]):
    """What ``fetch_list`` / ``fetch_tail`` return: an iterator of pages (lists of
    rows), exactly as before, that can also end in a typed table in one call
    (docs/dataframes.md): :meth:`to_arrow`, :meth:`to_pandas`, :meth:`to_parquet`.

    Those read the pages not yet read, converting each as it arrives. Their
    ``schema`` is ``"auto"`` (default: one call of the method's ``*.fields``,
    see :func:`b24hook.frames.schema_for`; if that call fails, a warning is
    logged and the types are inferred from the values), a
    :class:`~b24hook.frames.Schema`, or None (inferred).
    """

    __slots__ = ("_it", "_act", "_method", "_params")

    def __init__(self, it: Iterator[list[Any]], act: "_Action", method: str,
                 params: Mapping[str, Any] | None) -> None:
        self._it = it
        self._act = act
        self._method = method
        self._params = dict(params or {})

    def __iter__(self) -> "Pages":
        return self

    def __next__(self) -> list[Any]:
        return next(self._it)

    def close(self) -> None:
        """Stop the walk (an export's requests in flight are stopped)."""
        close = getattr(self._it, "close", None)
        if close is not None:
            close()

    def schema(self) -> "Schema":
        """The method's schema, read from its ``*.fields`` answer (one request)."""
        from .frames import _schema_from

        v2 = self._act._https.getter(ApiVersion.V2)
        return _schema_from(lambda fm, send, rid: v2().call(fm, send, rid), self._method, self._params)

    def _schema(self, schema: "Schema | Literal['auto'] | None") -> "Schema | None":
        if schema != "auto":
            return schema
        try:
            return self.schema()
        except (SdkError, ValueError) as exc:
            emit(self._act._logger, LogLevel.WARNING, "frames: no schema from *.fields; types are "
                 "inferred from the values", {"method": self._method, "error": str(exc)},
                 event="frames: no schema", area="list")
            return None

    def to_arrow(self, schema: "Schema | Literal['auto'] | None" = "auto") -> "pa.Table":
        """The remaining rows as one ``pyarrow.Table`` (``pip install 'b24hook[arrow]'``)."""
        from .frames import concat_arrow

        return concat_arrow(self, self._schema(schema))

    def to_pandas(self, schema: "Schema | Literal['auto'] | None" = "auto", *,
                  dtype_backend: Literal["numpy_nullable", "pyarrow"] = "numpy_nullable") -> "pd.DataFrame":
        """The remaining rows as one ``pandas.DataFrame`` (``pip install 'b24hook[pandas]'``);
        dtypes as in :func:`b24hook.frames.to_pandas`."""
        from .frames import _need_pandas, concat_arrow, to_pandas

        _need_pandas()
        return to_pandas(concat_arrow(self, self._schema(schema)), dtype_backend=dtype_backend)

    def to_parquet(self, dest: "str | os.PathLike[str] | Any",
                   schema: "Schema | Literal['auto'] | None" = "auto", *,
                   row_group_rows: int = 50_000, compression: str = "zstd") -> int:
        """Stream the remaining rows into a Parquet file, page by page (memory holds one
        row group); returns the number of rows written."""
        from .frames import write_parquet

        return write_parquet(self, dest, self._schema(schema), row_group_rows=row_group_rows,
                             compression=compression)

    def __repr__(self) -> str:
        return f"<Pages {self._method}>"


# ---------------------------------------------------------------- the page loop
class _Caller:
    """The ``prepare`` of a ``_core.Walk``: each page's call made ready as
    ``run_call`` makes one (the client's current transport, checks, request
    id, logging, write class, event sink); the last one maps its answer."""

    __slots__ = ("act", "method", "request_id", "http", "prepared")

    def __init__(self, act: _Action, method: str, request_id: str | None) -> None:
        self.act = act
        self.method = method
        self.request_id = request_id
        self.http: Http | None = None
        self.prepared: _Prepared | None = None

    def __call__(self, params: dict[str, Any]) -> tuple[_core.Transport, str, dict[str, Any]]:
        http = self.act._https.live(self.act._version)
        p = _Prepared(http, self.method, params, self.request_id)
        self.http, self.prepared = http, p
        kwargs = p.kwargs(http)
        kwargs["limiter"] = http.restriction.limiter
        return http._transport, p.rid, kwargs


def _drive(logger: LoggerInterface, walk: _core.Walk, caller: _Caller, label: str,
           warn: Callable[[str], None]) -> Walk:
    """Hand on the pages of a ``_core.Walk``; ``warn(reason)`` logs a named end."""
    while True:
        try:
            item = next(walk)
        except StopIteration:
            return None
        except (_core.ParamsError, _core.ClosedError) as exc:
            assert caller.prepared is not None
            caller.prepared.refused(exc)
        if item[0] == "page":
            yield item[1]
        elif item[0] == "end":
            if item[1] is not None:
                warn(item[1])
            return None
        else:  # "answer": the page's call did not succeed
            assert caller.http is not None and caller.prepared is not None
            res = caller.prepared.finish(caller.http, item[1])
            _fail_log(logger, label, caller.method, caller.request_id, res)
            return res


def _warning(logger: LoggerInterface, label: str, method: str, request_id: str | None, text: str,
             event: str, **ctx: Any) -> None:
    emit(logger, LogLevel.WARNING, f"{label}: {text}",
         {"method": method, "request_id": request_id, **ctx}, event=f"{label}: {event}", area="list")


# ---------------------------------------------------------------- v2 keyset
def _v2_setup(logger: LoggerInterface, method: str, params: Mapping[str, Any] | None, id_key: str,
              cursor_id_key: str | None, custom_key: str | None, request_id: str | None,
              label: str, prepare: _Caller | None) -> WalkPlan:
    """The ``_core.Walk`` of a v2 keyset walk and its end warnings (any driver)."""
    ckey = cursor_id_key or id_key
    base = dict(params or {})
    if base.pop("order", None):
        _warning(logger, label, method, request_id, f"the order parameter is ignored; pages are "
                 f"ordered by {ckey} ascending", "order ignored")
    caller_filter = base.pop("filter", None) or {}
    if not isinstance(caller_filter, Mapping):
        raise TypeError(f"{method}: v2 params['filter'] must be a mapping")
    # [DIVERGE] the caller's own >ID bound is kept as the first cursor (in C)
    walk = _core.Walk("v2", method, base, prepare, key=ckey, id_key=id_key,
                      custom_key=custom_key, filter=dict(caller_filter))
    ends = {
        # [DIVERGE] §6.2 step 3: a null or missing `result` ends the walk, with a warning
        "no_result": ("the answer carries no result (null); stopping", "no result", {}),
        "no_list": (f"the answer has no list under {custom_key!r}; stopping",
                    "no list under the key", {}),
        "not_a_list": ("the answer is not a list; pass custom_key_for_result; stopping",
                       "answer not a list", {}),
        "no_int_id": (f"rows have no increasing integer {id_key!r}; set id_key to the field the "
                      f"answer carries (and cursor_id_key to the field used in filter/order); "
                      f"stopping", "unreadable cursor", {"id_key": id_key}),
    }

    def warn(reason: str) -> None:
        text, event, ctx = ends[reason]
        _warning(logger, label, method, request_id, text, event, **ctx)

    return walk, warn


def _v2_walk(act: _Action, method: str, params: Mapping[str, Any] | None, id_key: str,
             cursor_id_key: str | None, custom_key: str | None, request_id: str | None,
             label: str) -> Walk:
    caller = _Caller(act, method, request_id)
    walk, warn = _v2_setup(act._logger, method, params, id_key, cursor_id_key, custom_key,
                           request_id, label, caller)
    return (yield from _drive(act._logger, walk, caller, label, warn))


class CallListV2(_Action):
    """``actions.v2.call_list``: every row of a v2 list method in one ``Result``."""

    __slots__ = ()

    def make(self, method: str, params: Mapping[str, Any] | None = None, id_key: str = "ID",
             cursor_id_key: str | None = None, custom_key_for_result: str | None = None,
             request_id: str | None = None, *, progress: ProgressArg = None) -> Result[list[Any]]:
        walk = _v2_walk(self, method, params, id_key, cursor_id_key, custom_key_for_result,
                        request_id, "callFastListMethod")
        return _collect(walk, make_progress(progress, method))


class FetchListV2(_Action):
    """``actions.v2.fetch_list``: an iterator of pages (lists of rows)."""

    __slots__ = ()

    def make(self, method: str, params: Mapping[str, Any] | None = None, id_key: str = "ID",
             cursor_id_key: str | None = None, custom_key_for_result: str | None = None,
             request_id: str | None = None, *, progress: ProgressArg = None,
             fast: bool = False, shards: int | None = None, resume: ResumeArg = None) -> Pages:
        """Pages of at most 50 rows; with ``fast=True`` the planned chained-batch
        export (docs/export.md): chunks of up to 2,500 rows per request, as many
        requests at once as the planner finds fastest under the rate bucket and
        the operating budget (``shards``: at most that many), resumable from
        ``resume`` (a checkpoint path or mapping). The :class:`Pages` also end in a table:
        ``.to_pandas()``, ``.to_arrow()``, ``.to_parquet(path)``."""
        if fast:
            from ._export import export_v2

            return Pages(export_v2(self._https, method, params, id_key=id_key,
                                   cursor_id_key=cursor_id_key,
                                   custom_key_for_result=custom_key_for_result,
                                   request_id=request_id, progress=progress, shards=shards,
                                   resume=resume),
                         self, method, params)
        walk = _v2_walk(self, method, params, id_key, cursor_id_key, custom_key_for_result,
                        request_id, "fetchListMethod")
        return Pages(_iterate(walk, make_progress(progress, method),
                              lambda r: _api_error("JSSDK_CORE_B24_FETCH_LIST_METHOD_API_V2", r)),
                     self, method, params)


# ---------------------------------------------------------------- v3
def _v3_setup(logger: LoggerInterface, method: str, params: Mapping[str, Any] | None, id_key: str,
              cursor_id_key: str | None, custom_key: Any, request_id: str | None,
              limit: int, label: str, prepare: _Caller | None) -> WalkPlan:
    """The ``_core.Walk`` of a v3 keyset walk and its end warnings (any driver)."""
    if custom_key is None:
        raise TypeError(f"{method}: custom_key_for_result is required on v3 lists "
                        f"(the key holding the rows, e.g. 'items')")
    ckey = cursor_id_key or id_key
    base = dict(params or {})
    if base.pop("order", None):
        _warning(logger, label, method, request_id, f"the order parameter is ignored; pages are "
                 f"ordered by {ckey} ascending", "order ignored")
    caller_filter = base.pop("filter", None) or []
    if not isinstance(caller_filter, (list, tuple)):
        raise TypeError(f"{method}: v3 params['filter'] must be a list of conditions "
                        f"(see FilterV3)")
    walk = _core.Walk("v3", method, base, prepare, key=ckey, id_key=id_key, custom_key=custom_key,
                      filter=caller_filter, limit=limit)

    def warn(reason: str) -> None:  # a missing result or list ends the walk quietly
        if reason == "no_int_id":
            _warning(logger, label, method, request_id, f"rows have no increasing integer "
                     f"{id_key!r}; set id_key/cursor_id_key; stopping", "unreadable cursor",
                     id_key=id_key)

    return walk, warn


def _v3_list_walk(act: _Action, method: str, params: Mapping[str, Any] | None, id_key: str,
                  cursor_id_key: str | None, custom_key: Any, request_id: str | None,
                  limit: int, label: str) -> Walk:
    caller = _Caller(act, method, request_id)
    walk, warn = _v3_setup(act._logger, method, params, id_key, cursor_id_key, custom_key,
                           request_id, limit, label, caller)
    return (yield from _drive(act._logger, walk, caller, label, warn))


class CallListV3(_Action):
    """``actions.v3.call_list``."""

    __slots__ = ()

    def make(self, method: str, params: Mapping[str, Any] | None = None, id_key: str = "id",
             cursor_id_key: str | None = None, custom_key_for_result: str | None = None,
             request_id: str | None = None, limit: int = V3_LIMIT, *,
             progress: ProgressArg = None) -> Result[list[Any]]:
        walk = _v3_list_walk(self, method, params, id_key, cursor_id_key, custom_key_for_result,
                             request_id, limit, "callFastListMethod")
        return _collect(walk, make_progress(progress, method))


class FetchListV3(_Action):
    """``actions.v3.fetch_list``: an iterator of pages."""

    __slots__ = ()

    def make(self, method: str, params: Mapping[str, Any] | None = None, id_key: str = "id",
             cursor_id_key: str | None = None, custom_key_for_result: str | None = None,
             request_id: str | None = None, limit: int = V3_LIMIT, *,
             progress: ProgressArg = None) -> Pages:
        if custom_key_for_result is None:
            raise TypeError(f"{method}: custom_key_for_result is required on v3 lists "
                            f"(the key holding the rows, e.g. 'items')")
        walk = _v3_list_walk(self, method, params, id_key, cursor_id_key, custom_key_for_result,
                             request_id, limit, "fetchListMethod")
        return Pages(_iterate(walk, make_progress(progress, method),
                              lambda r: _api_error("JSSDK_CORE_B24_FETCH_LIST_METHOD_API_V3", r)),
                     self, method, params)


def _tail_setup(logger: LoggerInterface, method: str, params: Mapping[str, Any] | None,
                cursor_field: str, order: str, custom_key: str, request_id: str | None, limit: int,
                initial_value: Any, label: str, prepare: _Caller | None) -> WalkPlan:
    """The ``_core.Walk`` of a v3 tail walk and its end warnings (any driver)."""
    base = dict(params or {})
    flt = base.get("filter")
    if isinstance(flt, (list, tuple)) and any(
        isinstance(c, (list, tuple)) and c and c[0] == cursor_field for c in flt
    ):
        _warning(logger, label, method, request_id, f"the filter holds the cursor field "
                 f"{cursor_field!r}; the server rejects it (INVALIDFILTEREXCEPTION)",
                 "cursor field in filter")
    select = base.get("select")
    if isinstance(select, (list, tuple)):
        if cursor_field not in select:
            base["select"] = [*select, cursor_field]
    elif select is None and cursor_field != "id":
        _warning(logger, label, method, request_id, f"no select given; pass one that includes "
                 f"{cursor_field!r}", "missing select")
    walk = _core.Walk("tail", method, base, prepare, key=cursor_field, custom_key=custom_key,
                      limit=limit, order=order, cursor=initial_value)

    def warn(reason: str) -> None:  # a missing result or list ends the walk quietly
        if reason == "no_cursor":
            _warning(logger, label, method, request_id, f"the last row has no {cursor_field!r}; "
                     f"stopping", "unreadable cursor")

    return walk, warn


def _tail_walk(act: _Action, method: str, params: Mapping[str, Any] | None, cursor_field: str,
               order: str, custom_key: str, request_id: str | None, limit: int,
               initial_value: Any, label: str) -> Walk:
    caller = _Caller(act, method, request_id)
    walk, warn = _tail_setup(act._logger, method, params, cursor_field, order, custom_key,
                             request_id, limit, initial_value, label, caller)
    return (yield from _drive(act._logger, walk, caller, label, warn))


def _check_desc(order: str, initial_value: Any, code: str) -> None:
    if isinstance(order, str) and order.lower() == "desc" and initial_value is None:
        raise SdkError(code, 500, "A DESC tail walk needs initial_value (the value to start below)")


class CallTail(_Action):
    """``actions.v3.call_tail``: walk a ``*.tail`` method with its native cursor."""

    __slots__ = ()

    def make(self, method: str, params: Mapping[str, Any] | None = None, cursor_field: str = "id",
             order: str = "ASC", custom_key_for_result: str = "items",
             request_id: str | None = None, limit: int = V3_LIMIT, initial_value: Any = None, *,
             progress: ProgressArg = None) -> Result[list[Any]]:
        _check_desc(order, initial_value, "JSSDK_CORE_B24_CALL_TAIL_DESC_REQUIRES_INITIAL_VALUE")
        walk = _tail_walk(self, method, params, cursor_field, order, custom_key_for_result,
                          request_id, limit, initial_value, "callTailMethod")
        return _collect(walk, make_progress(progress, method))


class FetchTail(_Action):
    """``actions.v3.fetch_tail``: an iterator of tail pages."""

    __slots__ = ()

    def make(self, method: str, params: Mapping[str, Any] | None = None, cursor_field: str = "id",
             order: str = "ASC", custom_key_for_result: str = "items",
             request_id: str | None = None, limit: int = V3_LIMIT, initial_value: Any = None, *,
             progress: ProgressArg = None) -> Pages:
        def gen() -> Iterator[list[Any]]:
            _check_desc(order, initial_value, "JSSDK_CORE_B24_FETCH_TAIL_DESC_REQUIRES_INITIAL_VALUE")
            walk = _tail_walk(self, method, params, cursor_field, order, custom_key_for_result,
                              request_id, limit, initial_value, "fetchTailMethod")
            yield from _iterate(walk, make_progress(progress, method),
                                lambda r: _api_error("JSSDK_CORE_B24_FETCH_TAIL_METHOD_API_V3", r))
        return Pages(gen(), self, method, params)


_AGG_FUNCTIONS = frozenset({"sum", "avg", "min", "max", "count", "countDistinct"})


class Aggregate(_Action):
    """``actions.v3.aggregate`` (experimental, as in the JS SDK)."""

    __slots__ = ()

    def make(self, method: str, select: Mapping[str, Any], params: Mapping[str, Any] | None = None,
             request_id: str | None = None) -> Result[Any]:
        send = aggregate_params(select, params)
        return aggregate_result(self._logger, method, request_id, self._call(method, send, request_id))


def aggregate_params(select: Mapping[str, Any], params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The checked params of an ``aggregate`` call."""
    if not isinstance(select, Mapping):
        raise SdkError("JSSDK_AGGREGATE_V3_INVALID_SELECT", 400, "select must be a mapping")
    for fn, fields in select.items():
        if fn not in _AGG_FUNCTIONS:
            raise SdkError("JSSDK_AGGREGATE_V3_INVALID_FUNCTION", 400,
                           f"Unknown aggregate function {fn!r} (allowed: "
                           f"{', '.join(sorted(_AGG_FUNCTIONS))})")
        if not isinstance(fields, (list, tuple, Mapping)):
            raise SdkError("JSSDK_AGGREGATE_V3_INVALID_SELECT", 400,
                           f"select[{fn!r}] must be a list of fields or a {{field: alias}} map")
    send: dict[str, Any] = {"select": dict(select)}
    flt = (params or {}).get("filter")
    if flt:
        send["filter"] = flt
    return send


def aggregate_result(logger: LoggerInterface, method: str, request_id: str | None,
                     res: AjaxResult) -> Result[Any]:
    """The ``Result`` of an ``aggregate`` call's answer."""
    out: Result[Any] = Result()
    if not res.is_success:
        _fail_log(logger, "aggregateMethod", method, request_id, res)
        for key, err in res.errors.items():
            out.add_error(err, key)
        return out
    payload = res.get_data_or_raise()["result"]  # success: checked above
    if isinstance(payload, Mapping) and "result" in payload:
        data = payload.get("result")
        out.set_data({} if data is None else data)
    elif isinstance(payload, Mapping):
        emit(logger, LogLevel.WARNING, "aggregateMethod: the answer is not nested "
             "as result.result; using result", {"method": method, "request_id": request_id},
             area="list")
        out.set_data(dict(payload))
    else:
        out.set_data({})
    return out
