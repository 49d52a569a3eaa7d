"""Results: ``Result`` and ``AjaxResult`` (spec §7)."""
from __future__ import annotations

import json
import sys
import traceback
from types import MappingProxyType
from typing import Any, Generic, Iterable, Iterator, Literal, Mapping, NoReturn, Protocol, cast, overload

if sys.version_info >= (3, 13):
    from typing import Self, TypedDict, TypeVar
else:  # TypeVar defaults (PEP 696), generic TypedDict on 3.10
    from typing_extensions import Self, TypedDict, TypeVar

from . import _core
from ._errors import AjaxError, SdkError
from ._request_id import _uuid7

__all__ = ["Result", "AjaxResult", "Payload", "PayloadTime"]

#: The data type of a ``Result`` / the ``result`` type of an ``AjaxResult``.
#: Defaults to ``Any``: a bare ``Result`` or ``AjaxResult`` annotation means
#: ``Result[Any]`` / ``AjaxResult[Any]``, also under ``mypy --strict``.
T = TypeVar("T", default=Any)
U = TypeVar("U")


class PayloadTime(TypedDict, total=False):
    """The ``time`` member of a portal answer (spec §4.3); any key may be missing."""

    start: float
    finish: float
    duration: float
    processing: float
    date_start: str
    date_finish: str
    operating_reset_at: float
    operating: float


class Payload(TypedDict, Generic[T]):
    """``AjaxResult.get_data()``: the answer's ``result`` and ``time`` (None when absent)."""

    result: T
    time: PayloadTime | None


class _Slow(Exception):
    """:func:`_freeze_small` met a shared or cyclic container or deep nesting."""


_FAST_DEPTH = 16
_CONTAINERS = (dict, list, tuple)


def _freeze_small(v: Any, seen: set[int], depth: int) -> Any:
    if depth > _FAST_DEPTH or id(v) in seen:
        raise _Slow
    seen.add(id(v))
    if isinstance(v, dict):
        out: dict[Any, Any] = {}
        for k, x in v.items():
            out[k] = _freeze_small(x, seen, depth + 1) if isinstance(x, _CONTAINERS) else x
        return out
    return [_freeze_small(x, seen, depth + 1) if isinstance(x, _CONTAINERS) else x for x in v]


def _freeze(value: Any) -> Any:
    """Structural copy of JSON-like containers (cheaper than deepcopy).

    The usual query (a few small containers, none met twice, not deep) is
    copied recursively (3x faster: every call freezes its params); anything
    else by the iterative copy, so a query nested as deep as the encoder
    allows never raises RecursionError after its request has left (issue 9
    item 2), and a container met twice (shared or cyclic) is copied once.
    """
    if not isinstance(value, _CONTAINERS):
        return value
    if not value:
        return {} if isinstance(value, dict) else []
    try:
        return _freeze_small(value, set(), 0)
    except _Slow:
        return _freeze_deep(value)


def _freeze_deep(value: Any) -> Any:
    """:func:`_freeze` without recursion, sharing kept (a container met twice is copied once)."""
    memo: dict[int, Any] = {}

    def shell(v: Any) -> Any:
        out: Any = {} if isinstance(v, dict) else []
        memo[id(v)] = out
        todo.append((v, out))
        return out

    todo: list[tuple[Any, Any]] = []
    root = shell(value)
    while todo:
        src, dst = todo.pop()
        items = src.items() if isinstance(src, dict) else enumerate(src)
        for k, v in items:
            if isinstance(v, _CONTAINERS):
                v = memo[id(v)] if id(v) in memo else shell(v)
            if isinstance(dst, dict):
                dst[k] = v
            else:
                dst.append(v)
    return root


def _json_default(obj: Any) -> Any:
    if isinstance(obj, BaseException):
        stack = None
        if obj.__traceback__ is not None:
            stack = "".join(traceback.format_exception(type(obj), obj, obj.__traceback__, chain=False))
        return {
            "name": getattr(obj, "name", type(obj).__name__),
            "message": getattr(obj, "message", str(obj)),
            "stack": stack,
        }
    raise TypeError


def _dump(data: Any) -> str:
    try:
        return json.dumps(data, indent=2, ensure_ascii=False, default=_json_default, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return "[Unable to serialize data]"


def _message_of(err: BaseException) -> str:
    msg = getattr(err, "message", None)
    return msg if isinstance(msg, str) else str(err)


_new = object.__new__


class Result(Generic[T]):
    """Data plus an ordered ``key → exception`` store; successful when empty."""

    __slots__ = ("_data", "_errors")

    def __init__(self, data: T | None = None) -> None:
        self._data: T | None = data
        self._errors: dict[str, BaseException] = {}

    @overload
    @classmethod
    def ok(cls) -> "Result[None]": ...

    @overload
    @classmethod
    def ok(cls, data: U) -> "Result[U]": ...

    @classmethod
    def ok(cls, data: Any = None) -> "Result[Any]":
        """A successful ``Result`` holding ``data``."""
        return Result(data)

    @classmethod
    def fail(cls, error: BaseException | str, key: str | None = None) -> "Result[Any]":
        """A ``Result`` holding one error."""
        return Result().add_error(error, key)

    @property
    def is_success(self) -> bool:
        """True when no error is recorded."""
        return not self._errors

    @property
    def errors(self) -> Mapping[str, BaseException]:
        """Read-only live view of the errors, in insertion order."""
        return MappingProxyType(self._errors)

    def set_data(self, data: T) -> Self:
        """Replace the data; returns self."""
        self._data = data
        return self

    def get_data(self) -> T | None:
        """The data (None when none was set); see :meth:`get_data_or_raise`."""
        return self._data

    def get_data_or_raise(self) -> T:
        """The data of a successful result; a failed one raises its first error.

        The raised error is the first one recorded when it is an ``SdkError``
        (an ``AjaxError`` for the results of calls, lists and batches, with its
        ``code``, ``status`` and ``request_info``); any other error (a ``str``
        or exception a caller added) is raised wrapped as
        ``SdkError.from_exception`` does: code ``JSSDK_INTERNAL_ERROR``, status
        500, its text as the message, the error itself as ``original_error``.
        So one ``except SdkError`` handles every failure. The other errors, if
        any, stay readable on ``errors``.
        """
        if self._errors:
            self._raise_first_error()
        # success: the data that was set (None only for a Result[None]-like use)
        return cast(T, self._data)

    def _raise_first_error(self) -> NoReturn:
        first = next(iter(self._errors.values()))
        # with_traceback(None): the traceback starts at the caller, and raising
        # the same stored error twice does not stack up the first traceback
        raise SdkError.from_exception(first).with_traceback(None)

    def add_error(self, error: BaseException | str, key: str | None = None) -> Self:
        """Record an error (a ``str`` becomes ``Exception(str)``); an existing key
        is overwritten in place; no key → a fresh UUIDv7."""
        if isinstance(error, str):
            error = Exception(error)
        self._errors[_uuid7() if key is None else str(key)] = error
        return self

    def add_errors(self, errors: Iterable[BaseException | str]) -> Self:
        for err in errors:
            self.add_error(err)
        return self

    def get_errors(self) -> Iterator[BaseException]:
        return iter(list(self._errors.values()))

    def get_error_messages(self) -> list[str]:
        return [_message_of(e) for e in self._errors.values()]

    def get_errors_by_key(self) -> dict[str, BaseException]:
        return dict(self._errors)

    def get_error_messages_by_key(self) -> dict[str, str]:
        return {k: _message_of(e) for k, e in self._errors.items()}

    def has_error(self, key: str) -> bool:
        return key in self._errors

    def to_string(self) -> str:
        """``Result(success): <json>`` or ``Result(failure): <json>\\nErrors: ...``."""
        body = _dump(self.get_data())
        if self.is_success:
            return f"Result(success): {body}"
        return f"Result(failure): {body}\nErrors: {', '.join(self.get_error_messages())}"

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        state = "success" if self.is_success else f"failure, errors={len(self._errors)}"
        return f"<{type(self).__name__} {state}>"


class AjaxResult(Result[Payload[T]]):
    """The result of one REST exchange, built from ``(answer, query, status)``.

    Failed when the answer carries an ``error`` (one ``AjaxError`` under key
    ``"base-error"``). ``get_data()`` is a :class:`Payload` ``{"result",
    "time"}`` or None; ``get_data_or_raise()`` the ``Payload`` or the
    ``AjaxError`` raised. ``T`` is the type of ``result`` (``Any`` for calls:
    the method decides).

    The error is never read out of the answer here: the C core classifies
    it (spec §4.4 A, ``b24_envelope_classify``) -- on the wire bytes for a
    call (:meth:`_from_outcome`), on the decoded answer otherwise
    (``_core.answer_error``: batch sub-answers, a result built by hand).
    """

    __slots__ = ("_answer", "_query", "_status")

    def __init__(self, answer: Any, query: Mapping[str, Any], status: int) -> None:
        self._setup(answer, query, status)
        err = _core.answer_error(answer, self._query, self._status)
        if err is not None:
            self._errors["base-error"] = err

    def _setup(self, answer: Any, query: Mapping[str, Any], status: int) -> None:
        self._data = None  # Result.__init__(self, None), inline: one frame less per call
        self._errors = {}
        self._answer = answer
        self._query = {
            "method": query.get("method", ""),
            "params": _freeze(query.get("params")),
            "request_id": query.get("request_id", ""),
        }
        self._status = int(status)

    @classmethod
    def _from_outcome(cls, outcome: _core.Outcome, query: dict[str, Any]) -> "AjaxResult[Any]":
        """The result of a 2xx Outcome: code, message and status as the core
        classified them (``_core.outcome_error``); the answer is not re-read.
        ``query`` is the call's own ``{"method", "params", "request_id"}``,
        which the result takes over (its params frozen in place): no second
        dict per call."""
        self = _new(cls)
        self._data = None  # _setup inline: the hot path of every call
        self._errors = {}
        self._answer = outcome.answer
        query["params"] = _freeze(query["params"])
        self._query = query
        self._status = outcome.status
        if outcome.kind != _core.OK:
            err = _core.outcome_error(outcome, query)
            if err is not None:
                self._errors["base-error"] = err
        return self

    @classmethod
    def _failed(cls, error: AjaxError, query: Mapping[str, Any]) -> "AjaxResult[Any]":
        """The failed result of a soft-coded failure (spec §5 step 7): the
        answer ``{"error": {"code", "message"}}``, the error's own status."""
        self = cls.__new__(cls)
        self._setup({"error": {"code": error.code, "message": error.message}}, query, error.status)
        self._errors["base-error"] = error
        return self

    def set_data(self, data: object) -> NoReturn:
        raise TypeError("AjaxResult does not allow data modification")

    def get_data(self) -> Payload[T] | None:
        """``{"result": answer.result, "time": answer.time}`` (a fresh dict); None when failed."""
        if self._errors:
            return None
        answer = self._answer
        result: Any = None  # decoded JSON: T is what the caller expects of it
        time: Any = None
        if isinstance(answer, dict):
            result = answer.get("result")
            time = answer.get("time")
        return {"result": result, "time": time}

    def get_data_or_raise(self) -> Payload[T]:
        """The :class:`Payload` of a successful exchange; a failed one raises its ``AjaxError``."""
        data = self.get_data()
        if data is None:
            self._raise_first_error()
        return data

    def get_status(self) -> int:
        return self._status

    def get_query(self) -> dict[str, Any]:
        """``{"method", "params", "request_id"}`` (a copy)."""
        return {
            "method": self._query["method"],
            "params": _freeze(self._query["params"]),
            "request_id": self._query["request_id"],
        }

    # -- deprecated v2 offset paging ------------------------------------
    def _next(self) -> Any:
        if self._errors or not isinstance(self._answer, dict):
            return None
        nxt = self._answer.get("next")
        if isinstance(nxt, (int, float)) and not isinstance(nxt, bool):
            return nxt
        return None

    def is_more(self) -> bool:
        """True when successful and the answer has a numeric ``next``."""
        return self._next() is not None

    def has_more(self) -> bool:
        return self.is_more()

    def get_total(self) -> int:
        """Integer ``total`` of a v2 list answer; 0 when failed or missing."""
        if self._errors or not isinstance(self._answer, dict):
            return 0
        try:
            return int(self._answer.get("total") or 0)
        except (TypeError, ValueError):
            return 0

    def get_next(self, http: "Caller") -> "AjaxResult | Literal[False]":
        """The next v2 page (same method, ``start=next``, fresh request id) or False."""
        if str(getattr(http, "api_version", "v2")) == "v3":
            raise SdkError("JSSDK_CORE_METHOD_NOT_SUPPORT_IN_API_V3", 500, "Method not supported in API v3")
        nxt = self._next()
        if nxt is None:
            return False
        params = self._query["params"]
        params = dict(params) if isinstance(params, dict) else {}
        params["start"] = int(nxt)
        return http.call(self._query["method"], params)

    def fetch_next(self, http: "Caller") -> "AjaxResult | None":
        """Like :meth:`get_next` but None at the end."""
        res = self.get_next(http)
        return res if res is not False else None

    def __repr__(self) -> str:
        state = "success" if self.is_success else "failure"
        return f"<AjaxResult {state} method={self._query['method']!r} status={self._status}>"


class Caller(Protocol):
    """What :meth:`AjaxResult.get_next` needs of its transport: ``call`` (the
    ``Http`` of ``B24Hook.get_http_client``; its ``api_version`` is read if it has one)."""

    def call(self, method: str, params: Any = None, request_id: str | None = None) -> AjaxResult: ...
