"""The transport-level ``batch`` of one API version (spec §6.6): what
``Http.batch`` sends, and what ``actions.<v>.batch`` and ``batch_by_chunk``
shape.

Python parses the caller's command forms and shapes the ``Result``; the C
core encodes the v2 command strings (PHP bracket encoding), decides the
``cmd`` form and plans the chunks. One batch is one pipeline run of the
method ``batch`` (one token of the rate bucket, §7.4 of portal.md).

This module sits below ``_http`` (``Http.batch`` calls
:func:`transport_batch`): it sees its transport through the
``_protocols.BatchHttp`` protocol.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from . import _core
from ._checks import check_method, is_write_method, params_refusal_text
from ._enums import ApiVersion
from ._errors import AjaxError, SdkError
from ._logging import LogLevel, emit
from ._protocols import BatchHttp
from ._result import AjaxResult, Result

__all__ = ["JsonArray", "Command", "ChunkPlan", "parse_calls", "plan_chunks", "transport_batch"]

_ABSENT: Any = object()
#: `$result[name]`, `$next[name]`, ... inside a v2 parameter value (portal.md §7.2)

_V2_REF = re.compile(r"\$(?:result|next|total|time|error)\[([^\]]*)\]", re.IGNORECASE)


class JsonArray(list):  # type: ignore[type-arg]
    """A list the transport sends as a JSON array even at the top level
    (plain lists are sent as ``{"0": …}`` objects, spec §4.2 step 4)."""


class Command(NamedTuple):
    position: int
    name: str | None  # the caller's name in named mode
    method: str
    query: Any  # _ABSENT when the row had no params
    alias: str | None
    parallel: bool


def _label(cmd: Command) -> str:
    key = repr(cmd.name) if cmd.name is not None else f"#{cmd.position}"
    return f"batch command {key} ({cmd.method})"


def _row_fail(where: str, row: Any) -> SdkError:
    return SdkError(
        "JSSDK_INTERACTION_BATCH_ROW_FAIL",
        500,
        f"Batch command {where} is neither a mapping with a string 'method' nor a "
        f"non-empty sequence starting with a method name (got {type(row).__name__})",
    )


def parse_calls(calls: Any, is_halt_on_error: bool) -> tuple[bool, list[Command]]:
    """Normalise the caller's commands (§6.6.1) → ``(named, commands)``."""
    if isinstance(calls, Mapping):
        named = True
        rows: Iterable[tuple[Any, Any]] = calls.items()
    elif isinstance(calls, (list, tuple)):
        named = False
        rows = ((None, r) for r in calls)
    else:
        raise SdkError(
            "JSSDK_INTERACTION_BATCH_ROW_FAIL", 500,
            f"calls must be a list, a tuple or a mapping of commands, not {type(calls).__name__}",
        )
    out: list[Command] = []
    for pos, (name, row) in enumerate(rows):
        where = repr(name) if named else f"#{pos}"
        alias: Any = None
        parallel: Any = None
        if isinstance(row, Mapping):
            method = row.get("method")
            if not isinstance(method, str) or not method:
                raise _row_fail(where, row)
            query = row["params"] if "params" in row else _ABSENT
            alias = row.get("as")
            parallel = row.get("parallel")
        elif isinstance(row, (list, tuple)) and row and isinstance(row[0], str) and row[0]:
            method = row[0]
            query = row[1] if len(row) > 1 else _ABSENT
        else:
            raise _row_fail(where, row)
        check_method(method, f"method of batch command {where}")
        if alias is not None and not isinstance(alias, str):
            raise ValueError(f"batch command {where}: 'as' must be a string")
        for label, text in (("'as'", alias), ("name", name if named else None)):
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError(f"batch command {where}: its {label} is not valid Unicode "
                                     f"(lone surrogate)") from None
        if not alias and named:
            alias = str(name)
        if query is None:
            query = _ABSENT
        out.append(Command(
            pos, str(name) if named else None, method, query, alias or None,
            bool(parallel) if parallel is not None else not is_halt_on_error,
        ))
    msg = _core.batch_count_error(len(out))
    if msg is not None:
        code = "JSSDK_BATCH_EMPTY" if not out else "JSSDK_BATCH_TOO_LARGE"
        raise AjaxError(code, 400, msg)
    return named, out


class ChunkPlan(NamedTuple):
    """The chunks of one ``batch_by_chunk`` (planned by the C core)."""

    named: bool
    halt: bool
    starts: list[int]  # the global position of each chunk's first command
    chunks: list[list[Command]]


def plan_chunks(calls: Any, halt: bool) -> ChunkPlan:
    """Split the caller's commands into checked chunks of at most 50."""
    if isinstance(calls, Mapping):
        named = True
        items = list(calls.items())
    elif isinstance(calls, (list, tuple)):
        named = False
        items = list(calls)
    else:
        raise SdkError("JSSDK_INTERACTION_BATCH_ROW_FAIL", 500,
                       f"calls must be a list, a tuple or a mapping, not {type(calls).__name__}")
    starts: list[int] = []
    chunks: list[list[Command]] = []
    if items:
        for start, length in _core.batch_chunks(len(items), _core.BATCH_MAX_COMMANDS):
            chunk = items[start:start + length]
            if named:
                _, commands = parse_calls(dict(chunk), halt)
            else:
                _, commands = parse_calls(chunk, halt)
            starts.append(start)
            chunks.append(commands)
    return ChunkPlan(named, halt, starts, chunks)



def _split_options(options: Mapping[str, Any] | None, flat: dict[str, Any]) -> dict[str, Any]:
    given = {k: v for k, v in flat.items() if v is not None}
    if options is not None and given:
        raise TypeError("give batch options either as options={...} or as keywords, not both")
    opts = dict(options or given)
    unknown = set(opts) - {"is_halt_on_error", "return_ajax_result", "request_id"}
    if unknown:
        raise TypeError(f"unknown batch option(s): {', '.join(sorted(unknown))}")
    return {
        "is_halt_on_error": bool(opts.get("is_halt_on_error", True)),
        "return_ajax_result": bool(opts.get("return_ajax_result", False)),
        "request_id": opts.get("request_id"),
    }


def _strings(value: Any) -> Iterable[str]:
    """Every string inside a params tree (refs live in values). A container met
    twice is walked once, so a cycle ends here and is refused by the encoder."""
    stack = [value]
    seen: set[int] = set()
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            yield v
        elif isinstance(v, (Mapping, list, tuple)):
            if id(v) in seen:
                continue
            seen.add(id(v))
            stack.extend(v.values() if isinstance(v, Mapping) else v)


def _v2_refs(cmd: Command) -> set[str]:
    if cmd.query is _ABSENT:
        return set()
    return {m.group(1) for s in _strings(cmd.query) if "$" in s for m in _V2_REF.finditer(s)}


def _v3_refs(value: Any) -> Iterable[str]:
    stack = [value]
    seen: set[int] = set()
    while stack:
        v = stack.pop()
        if isinstance(v, (Mapping, list, tuple)):
            if id(v) in seen:
                continue
            seen.add(id(v))
        if isinstance(v, Mapping):
            for marker in ("$ref", "$refArray"):
                ref = v.get(marker)
                if isinstance(ref, str) and len(v) == 1:
                    yield ref.split(".", 1)[0]
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)


def _index(cmd: Command) -> str:
    return cmd.alias if cmd.alias else str(cmd.position)


def _lookup(container: Any, key: str, position: int) -> Any:
    """``container[key]`` of a PHP map that may have been list-ified (§7.3)."""
    if isinstance(container, Mapping):
        return container.get(key, _ABSENT)
    if isinstance(container, list) and key.isdigit() and int(key) < len(container):
        return container[int(key)]
    return _ABSENT


class _BatchCore:
    """The transport-level batch of one version (JS ``http.batch``).

    ``get_http`` returns the transport to use (the client's current one for
    the version, read at each call, or one ``Http`` itself for
    :func:`transport_batch`).
    """

    def __init__(self, get_http: Callable[[], BatchHttp], version: ApiVersion) -> None:
        self._get_http = get_http
        self._version = version

    @property
    def http(self) -> BatchHttp:
        return self._get_http()

    # -- v2 -----------------------------------------------------------------
    def _v2_body(self, commands: list[Command], halt: bool) -> dict[str, Any]:
        form, bad = _core.cmd_form([c.alias for c in commands])
        if form == 2:
            raise ValueError(
                f"{_label(commands[bad])}: either every command of a v2 batch has an alias ('as') "
                f"or none has (the first one decides)"
            )
        known: set[str] = set()
        encoded: list[str] = []
        for cmd in commands:
            for ref in _v2_refs(cmd):
                if ref not in known:
                    raise ValueError(
                        f"{_label(cmd)} references $result[{ref}], which is not an earlier command "
                        f"of this batch"
                    )
            try:
                encoded.append(_core.batch_command(cmd.method, None if cmd.query is _ABSENT else cmd.query))
            except _core.ParamsError as exc:
                raise AjaxError("JSSDK_INVALID_PARAMS", 400,
                                params_refusal_text(exc, f"params of {_label(cmd)}")) from None
            except TypeError as exc:
                raise TypeError(f"{_label(cmd)}: {exc}") from None
            known.add(_index(cmd))
        cmd_field: Any
        if form == 1:
            cmd_field = {c.alias: s for c, s in zip(commands, encoded)}
        else:
            cmd_field = encoded
        return {"halt": 1 if halt else 0, "cmd": cmd_field}

    def _v2(self, commands: list[Command], halt: bool, answer: AjaxResult,
            feed: bool = True) -> Result[Any]:
        """The answer of one v2 batch request, command by command."""
        http = self.http
        rid = answer.get_query()["request_id"]
        out: Result[Any] = Result()
        data = answer.get_data_or_raise()  # success: checked by shape()
        env = data["result"]
        if not isinstance(env, Mapping) or ("result" not in env and "result_error" not in env):
            # a v2 batch always answers {"result": {"result": ..., "result_error": ...}};
            # anything else (`{"result": null}`) is a broken answer, never an empty
            # success (issue 9 item 6); the commands may have run
            raise AjaxError.create(
                "ERROR_UNEXPECTED_ANSWER", answer.get_status(),
                "Unexpected answer: a batch answer without result/result_error", None,
                answer.get_query(), maybe_committed=any(
                    is_write_method(c.method, http.write_verbs) for c in commands),
            )
        res_map = env.get("result")
        err_map = env.get("result_error")
        tot_map = env.get("result_total")
        nxt_map = env.get("result_next")
        tim_map = env.get("result_time")
        status = answer.get_status()
        failed: set[str] = set()
        results: dict[str, AjaxResult] = {}
        for cmd in commands:
            idx = _index(cmd)
            payload = _lookup(res_map, idx, cmd.position)
            err = _lookup(err_map, idx, cmd.position)
            if payload is _ABSENT and err is _ABSENT:
                if halt:
                    continue
                raise SdkError(
                    "JSSDK_INTERACTION_BATCH_STRATEGY_V2_EMPTY_COMMAND_RESPONSE", 500,
                    f"No answer for {_label(cmd)}",
                )
            tm = _lookup(tim_map, idx, cmd.position)
            tm = None if tm is _ABSENT else tm
            if tm is not None and feed:
                try:
                    http.feed_time(f"batch::{cmd.method}", tm)
                except Exception:  # noqa: BLE001 - accounting must not break the call
                    pass
            sub: dict[str, Any] = {
                "result": None if payload is _ABSENT else payload,
                "total": _int(_lookup(tot_map, idx, cmd.position)),
                "next": _int(_lookup(nxt_map, idx, cmd.position)),
                "time": tm,
            }
            if err is not _ABSENT and err is not None:
                if isinstance(err, Mapping):
                    sub["error"] = err.get("error")
                    if "error_description" in err:
                        sub["error_description"] = err.get("error_description")
                else:
                    sub["error"] = err
            query = {"method": cmd.method, "params": {} if cmd.query is _ABSENT else cmd.query,
                     "request_id": rid}
            ajax = AjaxResult(sub, query, status)
            results[idx] = ajax
            if not ajax.is_success or status != 200 or (err is not _ABSENT and err is not None):
                failed.add(idx)
                base = ajax.errors.get("base-error")
                if base is None:
                    desc = err.get("error_description") if isinstance(err, Mapping) else None
                    base = AjaxError("JSSDK_BATCH_SUB_ERROR", status,
                                     desc or f"{_label(cmd)} failed", None, query)
                out.add_error(base, idx)
            else:
                bad_ref = next((r for r in _v2_refs(cmd) if r in failed), None)
                if bad_ref is not None:
                    # the portal resolved the reference to a parent node: junk data
                    failed.add(idx)
                    out.add_error(AjaxError(
                        "JSSDK_BATCH_REF_FAILED", 400,
                        f"{_label(cmd)} references command {bad_ref!r}, which failed; its result "
                        f"is discarded", None, query), idx)
        out.set_data({"result": results, "time": data["time"]})
        return out

    # -- v3 -----------------------------------------------------------------
    def _v3_body(self, commands: list[Command]) -> JsonArray:
        known: set[str] = set()
        body = JsonArray()
        for cmd in commands:
            if cmd.query is not _ABSENT:
                for ref in _v3_refs(cmd.query):
                    if ref not in known:
                        raise ValueError(
                            f"{_label(cmd)} references {ref!r} (BatchRefV3), which is not the alias "
                            f"of an earlier command of this batch"
                        )
            row: dict[str, Any] = {"method": cmd.method}
            if cmd.query is not _ABSENT:
                row["query"] = cmd.query
            if cmd.alias:
                row["as"] = cmd.alias
                known.add(cmd.alias)
            row["parallel"] = cmd.parallel
            body.append(row)
        return body

    def _v3(self, commands: list[Command], answer: AjaxResult) -> Result[Any]:
        """The answer of one v3 batch request, command by command."""
        out: Result[Any] = Result()
        data = answer.get_data_or_raise()  # success: checked by shape()
        payload = data["result"]
        tm = data["time"]
        rid = answer.get_query()["request_id"]
        results: dict[str, AjaxResult] = {}
        for cmd in commands:
            if not isinstance(payload, list) or cmd.position >= len(payload):
                raise SdkError(
                    "JSSDK_INTERACTION_BATCH_STRATEGY_V3_EMPTY_COMMAND_RESPONSE", 500,
                    f"No answer for {_label(cmd)}",
                )
            query = {"method": cmd.method, "params": {} if cmd.query is _ABSENT else cmd.query,
                     "request_id": rid}
            results[_index(cmd)] = AjaxResult({"result": payload[cmd.position], "time": tm},
                                              query, answer.get_status())
        out.set_data({"result": results, "time": tm})
        return out

    def body(self, commands: list[Command], halt: bool) -> Any:
        """The checked body of one batch request (refusals raised before any I/O)."""
        if self._version is ApiVersion.V3:
            return self._v3_body(commands)
        return self._v2_body(commands, halt)

    def shape(self, commands: list[Command], halt: bool, answer: AjaxResult,
              feed: bool = True) -> Result[Any]:
        """The ``Result`` of one batch request's answer (§6.6.4), logged. ``feed``:
        the commands' times go to the client's limiter (a planned write job
        paces the budget itself and keeps them out, as the export does)."""
        if not answer.is_success:  # the request itself failed (a soft code)
            res: Result[Any] = Result()
            for key, err in answer.errors.items():
                res.add_error(err, key)
            res.set_data({"result": {}, "time": None})
        elif self._version is ApiVersion.V3:
            res = self._v3(commands, answer)
        else:
            res = self._v2(commands, halt, answer, feed)
        ok = len((res.get_data() or {"result": ()})["result"]) - len(res.errors)
        emit(self.http.logger, LogLevel.DEBUG, "http batch request completed", {
            "total_calls": len(commands), "successful": max(ok, 0), "failed": len(res.errors),
            "success_rate": round(100.0 * max(ok, 0) / len(commands), 2) if commands else 0,
        }, area="batch")
        return res

    def _starting(self, commands: list[Command], halt: bool) -> None:
        emit(self.http.logger, LogLevel.DEBUG, "http batch request starting",
             {"call_count": len(commands), "is_halt_on_error": halt}, area="batch")

    def run(self, commands: list[Command], halt: bool, request_id: str | None) -> Result[Any]:
        """One batch request: body, the call, the shaped answer."""
        body = self.body(commands, halt)
        self._starting(commands, halt)
        return self.shape(commands, halt, self.http.call("batch", body, request_id))


def transport_batch(http: BatchHttp, calls: Any, options: Mapping[str, Any] | None = None) -> Result[Any]:
    """``http.batch(calls, options=None)``: the batch of one transport, unshaped.

    Same parsing and pipeline as ``actions.<v>.batch.make``; returns
    ``Result(data={"result": {index: AjaxResult}, "time": envelope_time})``
    (§6.6.4), every command's own ``AjaxResult`` whatever ``return_ajax_result``
    says (that option only shapes the action's answer).
    """
    opts = _split_options(options, {})
    _, commands = parse_calls(calls, opts["is_halt_on_error"])
    return _BatchCore(lambda: http, http.api_version).run(
        commands, opts["is_halt_on_error"], opts["request_id"])


def _int(value: Any) -> int:
    if value is _ABSENT or value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0

