"""``batch`` and ``batch_by_chunk`` on REST v2 and v3 (spec §6.6, §6.7).

The commands are parsed, sent and read by the transport-level batch
(``_batch``); this module shapes its answer for the caller (§6.6.4) and
splits ``batch_by_chunk`` into chunks of 50 (planned by the C core).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from . import _core
from ._batch import ChunkPlan, Command, _BatchCore, _index, _split_options, parse_calls, plan_chunks
from ._enums import ApiVersion
from ._errors import SdkError
from ._http import HttpRegistry
from ._result import AjaxResult, Result
from ._write_job import run_write_job

__all__ = ["BatchAction", "BatchByChunkAction", "ChunkMerge", "merge_chunks"]


def _shape(named: bool, commands: Sequence[Command], core: Result[Any], return_ajax: bool,
           key_of: Any = None) -> Result[Any]:
    """§6.6.4: the ``Result`` handed to the caller."""
    out: Result[Any] = Result()
    for key, err in core.errors.items():
        out.add_error(err, key_of(key) if key_of else key)
    # _v2/_v3 always set {"result": {index: AjaxResult}, "time": ...}, failed or not
    results: Mapping[str, AjaxResult] = (core.get_data() or {"result": {}})["result"]
    if not results and not core.is_success and "base-error" in core.errors:
        out.set_data({} if named else [])
        return out
    if named:
        data: Any = {}
        for cmd in commands:
            sub = results.get(_index(cmd))
            if sub is None:
                continue
            if return_ajax:
                data[cmd.name] = sub
            elif sub.is_success and not core.has_error(_index(cmd)):
                data[cmd.name] = sub.get_data_or_raise()["result"]
    else:
        data = []
        for cmd in commands:
            sub = results.get(_index(cmd))
            if sub is None:
                continue
            if return_ajax:
                data.append(sub)
            elif sub.is_success and not core.has_error(_index(cmd)):
                data.append(sub.get_data_or_raise()["result"])
    out.set_data(data)
    return out


class ChunkMerge:
    """The caller's ``Result`` of a ``batch_by_chunk``, built chunk by chunk in
    order (``add``), then ``result()``: errors keyed by the global position or
    the caller's name."""

    __slots__ = ("_plan", "_out", "_data", "_next")

    def __init__(self, plan: ChunkPlan) -> None:
        self._plan = plan
        self._out: Result[Any] = Result()
        self._data: Any = {} if plan.named else []
        self._next = 0

    def add(self, core: Result[Any]) -> None:
        """The shaped answer of the next chunk."""
        named = self._plan.named
        start, commands = self._plan.starts[self._next], self._plan.chunks[self._next]
        self._next += 1

        def key_of(key: str) -> str:
            if key == "base-error" or named:
                return key
            for c in commands:
                if _index(c) == key and c.alias is None:
                    return str(start + c.position)
            return key

        shaped = _shape(named, commands, core, False, key_of)
        for key, err in shaped.errors.items():
            if key == "base-error" and start:
                key = f"base-error:{start}"
            self._out.add_error(err, key)
        if named:
            self._data.update(shaped.get_data())
        else:
            self._data.extend(shaped.get_data())

    def result(self) -> Result[Any]:
        return self._out.set_data(self._data)


def merge_chunks(plan: ChunkPlan, cores: list[Result[Any]]) -> Result[Any]:
    """The caller's ``Result`` of every chunk's answer, in order (:class:`ChunkMerge`)."""
    merge = ChunkMerge(plan)
    for core in cores:
        merge.add(core)
    return merge.result()


class BatchAction:
    """``actions.v2.batch`` / ``actions.v3.batch``."""

    __slots__ = ("_core",)

    def __init__(self, https: HttpRegistry, version: ApiVersion) -> None:
        self._core = _BatchCore(https.getter(version), version)

    def make(
        self,
        calls: Any,
        options: Mapping[str, Any] | None = None,
        *,
        is_halt_on_error: bool | None = None,
        return_ajax_result: bool | None = None,
        request_id: str | None = None,
    ) -> Result[Any]:
        """Up to 50 commands in one request.

        ``calls``: a list/tuple of rows (array mode) or a mapping ``name → row``
        (named mode); a row is ``{"method", "params"?, "as"?, "parallel"?}`` or
        ``(method, params?)``. Options as ``options={...}`` or as keywords.
        """
        opts = _split_options(options, {"is_halt_on_error": is_halt_on_error,
                                        "return_ajax_result": return_ajax_result,
                                        "request_id": request_id})
        named, commands = parse_calls(calls, opts["is_halt_on_error"])
        core = self._core.run(commands, opts["is_halt_on_error"], opts["request_id"])
        return _shape(named, commands, core, opts["return_ajax_result"])

    def __repr__(self) -> str:
        return f"<BatchAction {self._core._version.value}>"


class BatchByChunkAction:
    """``actions.v2.batch_by_chunk`` / ``actions.v3.batch_by_chunk``."""

    __slots__ = ("_core",)

    def __init__(self, https: HttpRegistry, version: ApiVersion) -> None:
        self._core = _BatchCore(https.getter(version), version)

    def make(
        self,
        calls: Any,
        options: Mapping[str, Any] | None = None,
        *,
        is_halt_on_error: bool | None = None,
        request_id: str | None = None,
    ) -> Result[Any]:
        """Any number of commands, in chunks of up to 50 sent concurrently on this
        thread as a planned job (``_write_job.WriteJob``: the requests in flight
        and the sub-calls per request from the C planner, the rate bucket and
        the operating budget respected, refused sub-calls re-sent, a request of
        unknown fate never re-sent: :class:`~b24hook.BatchMaybeCommittedError`).

        Data: the results of every successful command, in order (a list; a
        dict ``name → result`` for named calls). Errors are keyed by the global
        position or the caller's name.
        """
        opts = _split_options(options, {"is_halt_on_error": is_halt_on_error,
                                        "request_id": request_id})
        plan = plan_chunks(calls, opts["is_halt_on_error"])
        if not plan.chunks:
            return merge_chunks(plan, [])
        return merge_chunks(plan, run_write_job(self._core, plan, opts["request_id"]))

    def __repr__(self) -> str:
        return f"<BatchByChunkAction {self._core._version.value}>"
