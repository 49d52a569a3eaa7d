"""The call pipeline of one REST request (spec §5).

``run_call`` is a loop over attempts with separate steps::

    check params → log start → for each attempt:
        operating gate → client-side warning → rate gate → post
        → classify (success / 2xx-with-error / failure)
        → retry decision (wait and go on, or stop)
    → soft code: failed AjaxResult; other codes: raise AjaxError

The gates and the retry policy live in the transport's RestrictionManager;
for now they answer "no wait", so a call costs exactly one attempt. They are
called at the places the C limiter will take over.
"""
from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

from . import _core
from ._errors import CLIENT_CLOSED_CODE, AjaxError, SdkError
from ._logging import LogLevel, emit, wants_details
from ._redact import redact_sensitive_params
from ._result import AjaxResult

if TYPE_CHECKING:
    from ._http import Http

__all__ = [
    "WRITE_METHOD_VERBS",
    "is_write_method",
    "run_call",
    "closed_error",
    "invalid_params_error",
]

#: Last name segments that make a method a write (Decisions taken, item 8).
#: A segment that *starts* with one of them (``addcomment``, ``startwatch``)
#: also counts: treating a read as a write only forgoes an unsafe retry.
#: Override per transport with ``http.write_verbs = frozenset({...})``.
WRITE_METHOD_VERBS: frozenset[str] = frozenset(
    {
        "add", "update", "delete", "remove", "set", "unset", "bind", "unbind",
        "send", "start", "stop", "complete", "approve", "disapprove", "import",
        "upload", "attach", "detach", "move", "copy", "create", "edit", "modify",
        "save", "register", "unregister", "clear", "reset", "renew", "defer",
        "delegate", "pause", "resume", "terminate", "kill", "accept", "decline",
        "enable", "disable", "mute", "unmute", "pin", "unpin", "read", "unread",
        "like", "unlike", "vote", "close", "reopen", "restore", "rename",
        "share", "publish", "unpublish", "assign", "merge", "convert", "execute",
        "run", "invite", "join", "leave", "mark", "confirm", "cancel", "finish",
        "change", "replace", "apply", "sort", "hide", "show", "activate",
        "deactivate", "favorite", "unfavorite",
    }
)

_AUTH_RETRY_CODES = frozenset({"expired_token", "invalid_token"})
_TRUNCATE_OVER = 300
_TRUNCATE_KEEP = 100
_MISSING = object()


def is_write_method(method: str, verbs: frozenset[str] = WRITE_METHOD_VERBS) -> bool:
    """True when the last segment of ``method`` is (or starts with) a write verb."""
    last = method.rsplit(".", 1)[-1].lower()
    if last in verbs:
        return True
    return any(last.startswith(v) for v in verbs if len(v) >= 3)


def closed_error() -> SdkError:
    """The error of any call on a closed client (Decisions item 6)."""
    return SdkError(CLIENT_CLOSED_CODE, 500, "The client is closed: create a new B24Hook")


def invalid_params_error(query: dict[str, Any]) -> AjaxError:
    """JSSDK_INVALID_PARAMS (400): params that JSON cannot carry."""
    return AjaxError(
        "JSSDK_INVALID_PARAMS", 400, "Parameters contain circular references", None, query
    )


def _text(value: Any) -> str:
    """Redacted, truncated JSON text of a log payload (300/100 rule)."""
    if value is _MISSING:
        text = "undefined"
    else:
        try:
            text = json.dumps(redact_sensitive_params(value), ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            text = "[Unable to serialize data]"
    if len(text) > _TRUNCATE_OVER:
        text = text[:_TRUNCATE_KEEP] + "..."
    return text


def _sleep_ms(ms: float) -> None:
    if ms > 0:
        time.sleep(ms / 1000.0)


# ---------------------------------------------------------------- steps
def _operating_gate(http: "Http", method: str, params: Any) -> None:
    wait = http.restriction.operating_wait_ms(method, params)
    if wait > 0:
        http._metrics.limit_hit()
        _sleep_ms(wait)


def _client_side_warning(http: "Http") -> None:
    if http._client_side_warning and sys.platform == "emscripten":
        emit(http.logger, LogLevel.WARNING, http._client_side_warning_message,
             {"code": "JSSDK_CLIENT_SIDE_WARNING"})


def _rate_gate(http: "Http") -> None:
    while True:
        wait = http.restriction.rate_wait_ms()
        if wait <= 0:
            return
        http._metrics.limit_hit()
        _sleep_ms(wait)


def _post(
    http: "Http", method: str, params: Any, request_id: str, query: dict[str, Any],
    idempotency_key: str | None, verbose: bool,
) -> Any:
    """One POST. Returns an Outcome, or an AjaxError for an unexpected failure."""
    if verbose:
        emit(http.logger, LogLevel.INFO, "post/send",
             {"request_id": request_id, "method": method, "params": _text(params)})
    try:
        return http._transport.perform(method, params, request_id, idempotency_key=idempotency_key)
    except _core.ParamsError:
        raise invalid_params_error(query) from None
    except _core.ClosedError:
        raise closed_error() from None
    except Exception as exc:  # noqa: BLE001 - §4.4: anything else is JSSDK_UNKNOWN_ERROR
        text = _core.scrub_secret(str(exc), http._auth._secret)
        return AjaxError("JSSDK_UNKNOWN_ERROR", 0, text or type(exc).__name__, None, query)


def _classify_failure(http: "Http", outcome: Any, method: str, query: dict[str, Any]) -> AjaxError:
    detail = outcome.detail
    original = RuntimeError(detail) if detail else None
    maybe = bool(outcome.maybe_sent) and is_write_method(method, http.write_verbs)
    return AjaxError.create(
        outcome.code or "JSSDK_UNKNOWN_ERROR",
        outcome.status,
        outcome.message,
        original,
        query,
        maybe_committed=maybe,
    )


def _fail(http: "Http", err: AjaxError, query: dict[str, Any]) -> AjaxResult:
    if http.restriction.is_soft(err.code):
        return AjaxResult({"error": {"code": err.code, "message": err.message}}, query, err.status)
    _raise(err)


def _raise(err: BaseException) -> NoReturn:
    raise err from None


# ---------------------------------------------------------------- driver
def run_call(http: "Http", method: str, params: Any, request_id: str | None = None) -> AjaxResult:
    """Run one REST call through the pipeline; see the module docstring."""
    if http.closed:
        raise closed_error()
    if not isinstance(method, str) or not method:
        raise TypeError("method must be a non-empty string")
    rid = request_id or http._request_ids.get_request_id()
    if params is None:
        params = {}
    query: dict[str, Any] = {"method": method, "params": params, "request_id": rid}
    logger = http.logger
    verbose = wants_details(logger)

    # 1. serialisability check (the transport repeats it before any I/O)
    if verbose:
        try:
            _core.encode_json(params, list_as_object=True)
        except _core.ParamsError:
            raise invalid_params_error(query) from None
        emit(logger, LogLevel.DEBUG, "http request starting", {
            "request_id": rid, "method": method, "params": redact_sensitive_params(params),
            "api": str(http.api_version), "timestamp": int(time.time() * 1000),
        })

    max_retries = http.restriction.max_retries
    if max_retries < 1:
        raise AjaxError("JSSDK_CALL_ALL_ATTEMPTS_EXHAUSTED", 500, "All attempts exhausted", None, query)

    idem = None
    if str(http.api_version) == "v3" and is_write_method(method, http.write_verbs):
        idem = http._request_ids.get_request_id()

    started = time.monotonic()
    metrics = http._metrics
    err: AjaxError | None = None
    exhausted = False
    for attempt in range(max_retries):
        logger = http.logger
        verbose = wants_details(logger)
        if verbose:
            emit(logger, LogLevel.INFO, "http request attempt", {
                "request_id": rid, "method": method,
                "attempt": {"current": attempt + 1, "max": max_retries},
            })
        _operating_gate(http, method, params)
        _client_side_warning(http)
        _rate_gate(http)

        outcome = _post(http, method, params, rid, query, idem, verbose)
        if (
            not isinstance(outcome, AjaxError)
            and outcome.kind == _core.ERROR
            and outcome.status == 401
            and outcome.code in _AUTH_RETRY_CODES
        ):
            emit(logger, LogLevel.INFO, "http auth error detected", {"request_id": rid, "method": method})
            http._auth.refresh_auth()
            emit(logger, LogLevel.INFO, "http refreshing auth token", {"request_id": rid, "method": method})
            _rate_gate(http)
            outcome = _post(http, method, params, rid, query, idem, verbose)

        elapsed_ms = (time.monotonic() - started) * 1000.0
        if not isinstance(outcome, AjaxError) and outcome.kind != _core.ERROR:
            # success path: OK, or a 2xx answer carrying an error (never retried)
            answer = outcome.answer
            if verbose:
                res = answer.get("result", _MISSING) if isinstance(answer, dict) else _MISSING
                tm = answer.get("time", _MISSING) if isinstance(answer, dict) else _MISSING
                emit(logger, LogLevel.INFO, "post/response", {
                    "request_id": rid, "result": _text(res), "time": _text(tm),
                })
            result = AjaxResult(answer, query, outcome.status)
            if result.is_success and isinstance(answer, dict) and isinstance(answer.get("time"), dict):
                http.restriction.record_success(method, answer["time"])
            metrics.success(method, elapsed_ms)
            if verbose:
                emit(logger, LogLevel.DEBUG, "http request successful", {
                    "request_id": rid, "method": method,
                    "duration": {"ms": round(elapsed_ms, 3), "sec": round(elapsed_ms / 1000.0, 3)},
                })
            return result

        # failure path
        if isinstance(outcome, AjaxError):
            err = outcome
        else:
            if verbose:
                emit(logger, LogLevel.INFO, "post/catchError", {
                    "request_id": rid, "status": outcome.status,
                    "response_data": _text(outcome.answer),
                })
            err = _classify_failure(http, outcome, method, query)
        metrics.failure(method, err.message, elapsed_ms)
        if verbose:
            emit(logger, LogLevel.DEBUG, "http request failed", {
                "request_id": rid, "method": method, "attempt": attempt + 1,
                "error": {"code": err.code, "message": err.message, "status": err.status},
            })
        if attempt + 1 >= max_retries:
            exhausted = max_retries > 1
            break
        maybe_sent = bool(getattr(outcome, "maybe_sent", False))
        wait = http.restriction.retry_wait_ms(err, attempt, method, maybe_sent)
        if wait <= 0:
            break
        metrics.limit_hit()
        emit(logger, LogLevel.DEBUG, f"http wait {wait / 1000.0:.2f} sec.", {"wait": wait, "attempt": attempt + 1})
        _sleep_ms(wait)
        metrics.retry()

    assert err is not None
    if exhausted:
        emit(http.logger, LogLevel.WARNING, "http all retry attempts exhausted",
             {"request_id": rid, "method": method, "code": err.code})
    return _fail(http, err, query)
