"""Errors of b24hook: ``SdkError`` and ``AjaxError`` (spec §8).

Tree::

    Exception
     └── SdkError                 code, status, message, timestamp, original_error
          └── AjaxError           + request_info {"method", "params", "request_id"},
                                    maybe_committed

Match failure kinds on ``err.code`` (``NETWORK_ERROR``, ``REQUEST_TIMEOUT``,
...). ``AjaxError.create`` is the single construction point used by the
pipeline, so precise subclasses can be added there later without touching
callers (the fidelity harness currently pins the class name ``AjaxError``).

``original_error`` is kept in a slot, outside ``__dict__``: it is readable but
never part of ``to_json()``, ``repr()``, ``str()``, ``vars()`` or pickling
(its text may come from the transport).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, TypedDict

from ._core import answer_error, scrub_secret
from ._redact import redact_sensitive_params

__all__ = [
    "SdkError",
    "AjaxError",
    "AjaxErrorParams",
    "BatchMaybeCommittedError",
    "CLIENT_CLOSED_CODE",
]

#: Code of the SdkError raised by any call on a closed client (Decisions item 6).
CLIENT_CLOSED_CODE = "JSSDK_CORE_B24_CLIENT_CLOSED"

_FORCE_403 = frozenset({"AUTHORIZE_ERROR", "WRONG_AUTH_TYPE"})


class AjaxErrorParams(TypedDict):
    """Shape of ``AjaxError.request_info``."""

    method: str
    params: Any
    request_id: str


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _restore(cls: "type[SdkError]", state: dict[str, Any]) -> "SdkError":
    obj = cls.__new__(cls)
    obj._status = state.pop("_status")
    obj._original_error = None
    obj.__dict__.update(state)
    obj.args = (state.get("message", ""),)
    return obj


class SdkError(Exception):
    """Base error of the SDK.

    ``SdkError(code, status=500, description=None, original_error=None)``;
    ``str(e)`` is the message (``description``, or ``"Internal error"``).
    """

    __slots__ = ("_status", "_original_error")
    name = "SdkError"

    code: str
    message: str
    timestamp: datetime

    def __init__(
        self,
        code: str,
        status: int = 500,
        description: str | None = None,
        original_error: BaseException | None = None,
    ) -> None:
        self.code = str(code)
        self._status = int(status)
        self._original_error = original_error
        self.timestamp = datetime.now(timezone.utc)
        # any text may carry a webhook URL (a libcurl or proxy message, a
        # caller's exception): its token is masked here, whatever the source
        self.message = scrub_secret(self._default_message(description))
        super().__init__(self.message)

    def _default_message(self, description: str | None) -> str:
        return description if description else "Internal error"

    @property
    def status(self) -> int:
        """HTTP status (0 when there was no response). Read-only."""
        return self._status

    @property
    def original_error(self) -> BaseException | None:
        """The wrapped lower-level error, if any (never serialised)."""
        return self._original_error

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self._status}, message={self.message!r})"

    def to_string(self) -> str:
        """``[<name>] <code> (<status>): <message>``."""
        return f"[{self.name}] {self.code} ({self._status}): {self.message}"

    def to_json(self) -> dict[str, Any]:
        """``{name, code, message, status, timestamp}`` (ISO timestamp)."""
        return {
            "name": self.name,
            "code": self.code,
            "message": self.message,
            "status": self._status,
            "timestamp": _iso(self.timestamp),
        }

    def __reduce__(self) -> tuple[Any, ...]:
        state = dict(self.__dict__)
        state["_status"] = self._status
        return (_restore, (type(self), state))

    @classmethod
    def from_exception(
        cls, exc: BaseException, code: str | None = None, status: int | None = None
    ) -> "SdkError":
        """Return ``exc`` if it is an SdkError, else wrap it (JSSDK_INTERNAL_ERROR, 500)."""
        if isinstance(exc, SdkError):
            return exc
        return SdkError(
            code=code or "JSSDK_INTERNAL_ERROR",
            status=500 if status is None else status,
            description=str(exc),
            original_error=exc,
        )


class AjaxError(SdkError):
    """An error of a REST exchange; adds ``request_info`` (params redacted).

    ``status`` is forced to 403 for AUTHORIZE_ERROR and WRONG_AUTH_TYPE.
    ``maybe_committed`` is True when a write may have reached the server
    before the failure (Decisions item 8): do not blindly re-send it.
    """

    __slots__ = ()
    name = "AjaxError"

    request_info: AjaxErrorParams | None
    maybe_committed: bool

    def __init__(
        self,
        code: str,
        status: int = 500,
        description: str | None = None,
        original_error: BaseException | None = None,
        request_info: Mapping[str, Any] | None = None,
        *,
        maybe_committed: bool = False,
    ) -> None:
        if request_info is not None:
            info: AjaxErrorParams | None = {
                "method": request_info.get("method", ""),
                "params": redact_sensitive_params(request_info.get("params")),
                "request_id": request_info.get("request_id", ""),
            }
        else:
            info = None
        self.request_info = info
        self.maybe_committed = bool(maybe_committed)
        if str(code) in _FORCE_403:
            status = 403
        super().__init__(code, status, description, original_error)

    def _default_message(self, description: str | None) -> str:
        if description:
            return description
        method = self.request_info["method"] if self.request_info else None
        if method:
            return f"{self.code} (on {method})"
        return "Internal ajax error"

    def to_string(self) -> str:
        text = super().to_string()
        if self.request_info:
            text += f"\nRequest: [{self.request_info['request_id']}] {self.request_info['method']}"
        return text

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["request_info"] = self.request_info
        return data

    @classmethod
    def create(
        cls,
        code: str,
        status: int = 500,
        description: str | None = None,
        original_error: BaseException | None = None,
        request_info: Mapping[str, Any] | None = None,
        *,
        maybe_committed: bool = False,
    ) -> "AjaxError":
        """Build the AjaxError for ``code`` (the pipeline's construction point)."""
        return cls(
            code, status, description, original_error, request_info, maybe_committed=maybe_committed
        )

    @classmethod
    def from_response(
        cls, status: int, data: Any, request_info: Mapping[str, Any] | None = None
    ) -> "AjaxError":
        """Build from an HTTP status and a decoded body (``error``/``error_description``).

        The body is classified by the core's answer rules (spec §4.4 A, the
        ones every answer goes through); a body without an error gives
        ``JSSDK_INTERNAL_AJAX_ERROR``.
        """
        found = None
        if isinstance(data, Mapping):
            found = answer_error(dict(data), request_info, status)
        if found is None:
            return cls.create("JSSDK_INTERNAL_AJAX_ERROR", status, None, None, request_info)
        if type(found) is cls:
            return found
        return cls.create(found.code, status, found.message, None, request_info)

    @classmethod
    def from_exception(
        cls,
        exc: BaseException,
        code: str | None = None,
        status: int | None = None,
        request_info: Mapping[str, Any] | None = None,
    ) -> "AjaxError":
        """Return ``exc`` if it is an AjaxError, else wrap it (JSSDK_INTERNAL_AJAX_ERROR, 500)."""
        if isinstance(exc, AjaxError):
            return exc
        return cls.create(
            code or "JSSDK_INTERNAL_AJAX_ERROR",
            500 if status is None else status,
            str(exc),
            exc,
            request_info,
        )


class BatchMaybeCommittedError(AjaxError):
    """``batch_by_chunk`` stopped because a request's fate is unknown (it failed
    after it was sent: a reset, a 500 to a write) and re-sending it could write
    twice (the safe-write rule; docs/batch.md "Large write jobs").

    ``maybe_positions``: the commands (global positions as strings, or the
    caller's names quoted) of the requests that may have been committed;
    ``unsent_positions``: the commands never sent; ``committed``: the result
    of every command known to have succeeded, by the same keys. Code
    ``JSSDK_BATCH_MAYBE_COMMITTED``, ``maybe_committed`` is True and
    ``original_error`` is the first such request's error.
    """

    __slots__ = ("maybe_positions", "unsent_positions", "committed")
    name = "BatchMaybeCommittedError"

    def __init__(self, description: str, original_error: AjaxError, *,
                 maybe_positions: list[str], unsent_positions: list[str],
                 committed: dict[str, Any]) -> None:
        super().__init__("JSSDK_BATCH_MAYBE_COMMITTED", original_error.status, description,
                         original_error, original_error.request_info, maybe_committed=True)
        self.maybe_positions = maybe_positions
        self.unsent_positions = unsent_positions
        self.committed = committed
