"""The call pipeline of one REST request (spec §5).

With the real transport (``_core.Transport``) the whole loop runs in C with
the GIL released::

    for each attempt:
        operating gate (else adaptive delay) → rate gate loop → POST
        → success: feed the limiters and metrics, return
        → failure: metrics, retry policy (§9.5, Decisions item 8), wait
    → soft code: failed AjaxResult; other codes: raise AjaxError

This module only prepares the call (params, request id, write detection,
Idempotency-Key), turns C events into the log lines of §11.3 while the call
runs, and turns the final Outcome into an AjaxResult or an AjaxError.

A transport that is not a ``_core.Transport`` (a test seam, see
``set_http_client``) is driven by :func:`_run_call_py`, the same loop in
Python using the same C restriction manager.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, NoReturn

from . import _core
from ._checks import check_method, check_request_id, closed_error, invalid_params_error, is_write_call
from ._errors import AjaxError
from ._logging import LogLevel, emit, wants_details, wants_events
from ._params import batch_method_names
from ._protocols import PipelineHttp
from ._redact import redact_sensitive_params
from ._result import AjaxResult

__all__ = ["run_call"]

#: The transport a call runs on, as this module sees it: ``_http.Http`` sits
#: above this module (``Http.call`` runs the pipeline), so its type here is the
#: protocol of what the steps below read of it.
Http = PipelineHttp


_AUTH_RETRY_CODES = frozenset({"expired_token", "invalid_token"})
_TRUNCATE_OVER = 300
_TRUNCATE_KEEP = 100
_MISSING = object()


def _text(value: Any, secret: str) -> str:
    """Redacted, truncated JSON text of a log payload (300/100 rule); the
    client's secret and any webhook path token scrubbed (§11.1)."""
    if value is _MISSING:
        text = "undefined"
    else:
        try:
            text = json.dumps(redact_sensitive_params(value), ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            text = "[Unable to serialize data]"
    text = _core.scrub_secret(text, secret)
    if len(text) > _TRUNCATE_OVER:
        text = text[:_TRUNCATE_KEEP] + "..."
    return text


def _sleep_ms(ms: float) -> None:
    if ms > 0:
        time.sleep(ms / 1000.0)


# ---------------------------------------------------------------- events
_DECIDED_TITLES = {"rate": "rateLimiter ", "operating": "operatingLimiter "}


class _EventSink:
    """Turns the C pipeline's events into the log lines of §11.3.

    Called by the core with the GIL briefly taken, only when a logger is
    installed; the logger is read at each event (loggers are dynamic).
    Anything it raises is swallowed by the core (fire-and-forget), except a
    KeyboardInterrupt, which stops the call.
    """

    __slots__ = ("http", "method", "rid", "params")

    def __init__(self, http: "Http", method: str, rid: str, params: Any) -> None:
        self.http = http
        self.method = method
        self.rid = rid
        self.params = params

    def __call__(self, kind: str, ev: dict[str, Any]) -> None:
        logger = self.http.logger
        m = self.method
        if kind == "blocked":
            limiter = ev["limiter"]
            msg = f"{limiter} blocked method {m}"
            if limiter == "rateLimiter":
                msg += f" | {ev['count']} times"
            emit(logger, LogLevel.NOTICE, msg, {"method": m, "wait": ev["wait"]},
                 event=f"{limiter} blocked method", area="limiter")
        elif kind == "decided":
            reason, code, status = ev["reason"], ev["code"], ev["status"]
            if reason in _DECIDED_TITLES:
                title = _DECIDED_TITLES[reason]
                emit(logger, LogLevel.ERROR,
                     f"{title}recognized the {code} error for the {m} method",
                     {"method": m, "code": code, "status": status, "wait": ev["wait"]},
                     event=f"{title}recognized the error", area="limiter")
            elif reason == "client_error":
                emit(logger, LogLevel.ERROR,
                     f"client error {status} ({code}) for the {m} method is not retryable",
                     {"method": m, "code": code, "status": status},
                     event="client error is not retryable", area="limiter")
            elif reason == "hard":
                emit(logger, LogLevel.ERROR, f"recognized the {code} error for the {m} method",
                     {"method": m, "code": code, "status": status},
                     event="recognized the error", area="limiter")
            elif reason == "redirect":
                emit(logger, LogLevel.ERROR,
                     f"redirect refused ({code}, {status}) for the {m} method is final",
                     {"method": m, "code": code, "status": status},
                     event="redirect refused", area="limiter")
            elif reason == "unsafe_write":
                emit(logger, LogLevel.WARNING,
                     f"the write {m} may have reached the server: not re-sent",
                     {"request_id": self.rid, "method": m, "code": code},
                     event="write not re-sent", area="limiter")
        elif kind in ("rate_lowered", "rate_restored"):
            st = self.http.restriction.get_stats()
            word = "lowering" if kind == "rate_lowered" else "restoring"
            emit(logger, LogLevel.WARNING, f"rateLimiter {word} rate", {
                "drain_rate": st["drain_rate"], "burst_limit": st["burst_limit"],
                "original_drain_rate": st["original_drain_rate"],
                "original_burst_limit": st["original_burst_limit"],
            }, area="limiter")
        elif kind == "exhausted":
            emit(logger, LogLevel.WARNING, "http all retry attempts exhausted",
                 {"request_id": self.rid, "method": m, "code": ev["code"]}, area="http")
        elif not wants_details(logger):
            return
        elif kind == "attempt":
            emit(logger, LogLevel.INFO, "http request attempt", {
                "request_id": self.rid, "method": m,
                "attempt": {"current": ev["attempt"], "max": ev["max"]},
            }, area="http")
        elif kind == "send":
            emit(logger, LogLevel.INFO, "post/send",
                 {"request_id": self.rid, "method": m, "params": _text(self.params, self.http._auth._secret)}, area="http")
        elif kind == "response":
            answer = ev["answer"]
            secret = self.http._auth._secret
            res = answer.get("result", _MISSING) if isinstance(answer, dict) else _MISSING
            tm = answer.get("time", _MISSING) if isinstance(answer, dict) else _MISSING
            emit(logger, LogLevel.INFO, "post/response",
                 {"request_id": self.rid, "result": _text(res, secret), "time": _text(tm, secret)}, area="http")
        elif kind == "success":
            ms = ev["duration"]
            emit(logger, LogLevel.DEBUG, "http request successful", {
                "request_id": self.rid, "method": m,
                "duration": {"ms": round(ms, 3), "sec": round(ms / 1000.0, 3)},
            }, area="http")
        elif kind == "catch":
            emit(logger, LogLevel.INFO, "post/catchError", {
                "request_id": self.rid, "status": ev["status"],
                "response_data": _text(ev["answer"], self.http._auth._secret),
            }, area="http")
        elif kind == "failed":
            emit(logger, LogLevel.DEBUG, "http request failed", {
                "request_id": self.rid, "method": m, "attempt": ev["attempt"],
                "error": {"code": ev["code"], "message": ev["message"], "status": ev["status"]},
            }, area="http")
        elif kind == "wait":
            wait = ev["wait"]
            emit(logger, LogLevel.DEBUG, f"http wait {wait / 1000.0:.2f} sec.",
                 {"wait": wait, "attempt": ev["attempt"]}, event="http wait", area="http")
        elif kind == "heavy":
            emit(logger, LogLevel.DEBUG, f"operatingLimiter heavy request for the {m} method",
                 {"method": m, "operating_ms": ev["wait"]},
                 event="operatingLimiter heavy request", area="limiter")
        elif kind == "auth_error":
            emit(logger, LogLevel.INFO, "http auth error detected",
                 {"request_id": self.rid, "method": m}, area="http")
        elif kind == "auth_refresh":
            emit(logger, LogLevel.INFO, "http refreshing auth token",
                 {"request_id": self.rid, "method": m}, area="http")


# ---------------------------------------------------------------- steps (Python driver)
def _operating_gate(http: "Http", method: str, params: Any) -> None:
    wait = http.restriction.operating_wait_ms(method, params)
    if wait > 0:
        http._metrics.limit_hit()
        _sleep_ms(wait)


def _client_side_warning(http: "Http") -> None:
    if http._client_side_warning and sys.platform == "emscripten":
        emit(http.logger, LogLevel.WARNING, http._client_side_warning_message,
             {"code": "JSSDK_CLIENT_SIDE_WARNING"}, event="client side warning", area="http")


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
             {"request_id": request_id, "method": method, "params": _text(params, http._auth._secret)}, area="http")
    try:
        return http._transport.perform(method, params, request_id, idempotency_key=idempotency_key)
    except _core.ParamsError as exc:
        raise invalid_params_error(query, exc) from None
    except _core.ClosedError:
        raise closed_error() from None
    except Exception as exc:  # noqa: BLE001 - §4.4: anything else is JSSDK_UNKNOWN_ERROR
        text = _core.scrub_secret(str(exc), http._auth._secret)
        return AjaxError("JSSDK_UNKNOWN_ERROR", 0, text or type(exc).__name__, None, query)


def _classify_failure(outcome: Any, query: dict[str, Any], is_write: bool) -> AjaxError:
    """The AjaxError of an ERROR Outcome (the C mapping, ``_core.outcome_error``)."""
    err = _core.outcome_error(outcome, query, is_write=is_write)
    assert err is not None
    return err


def _fail(http: "Http", err: AjaxError, query: dict[str, Any]) -> AjaxResult:
    if http.restriction.is_soft(err.code):
        return AjaxResult._failed(err, query)
    _raise(err)


def _raise(err: BaseException) -> NoReturn:
    raise err from None


def _exhausted_error(query: dict[str, Any]) -> AjaxError:
    return AjaxError("JSSDK_CALL_ALL_ATTEMPTS_EXHAUSTED", 500, "All attempts exhausted", None, query)


# ---------------------------------------------------------------- driver
def run_call(http: "Http", method: str, params: Any, request_id: str | None = None) -> AjaxResult:
    """Run one REST call through the pipeline; see the module docstring."""
    if http.closed:
        raise closed_error()
    check_method(method)
    check_request_id(request_id)
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
        except _core.ParamsError as exc:
            raise invalid_params_error(query, exc) from None
        emit(logger, LogLevel.DEBUG, "http request starting", {
            "request_id": rid, "method": method, "params": redact_sensitive_params(params),
            "api": str(http.api_version), "timestamp": int(time.time() * 1000),
        }, area="http")

    is_write = is_write_call(method, params, http.write_verbs)
    idem = None
    if str(http.api_version) == "v3" and is_write:
        idem = http._request_ids.get_request_id()

    transport = http._transport
    if not isinstance(transport, _core.Transport):
        return _run_call_py(http, method, params, rid, query, is_write, idem)

    _client_side_warning(http)
    # The core builds and delivers an event only for a logger that records it:
    # none at all for a quiet one, no per-attempt details unless INFO is on.
    sink = _EventSink(http, method, rid, params) if wants_events(logger) else None
    try:
        outcome = transport.call(
            method, params, rid, limiter=http.restriction.limiter, idempotency_key=idem,
            is_write=is_write, batch_methods=batch_method_names(method, params), on_event=sink,
            event_details=verbose,
        )
    except _core.ParamsError as exc:
        raise invalid_params_error(query, exc) from None
    except _core.ClosedError:
        raise closed_error() from None
    if outcome.kind != _core.ERROR:
        return AjaxResult._from_outcome(outcome, query)
    err = _classify_failure(outcome, query, is_write)
    if err.code == "JSSDK_CALL_ALL_ATTEMPTS_EXHAUSTED":
        _raise(err)  # never soft: no attempt was made
    return _fail(http, err, query)


def _run_call_py(
    http: "Http", method: str, params: Any, rid: str, query: dict[str, Any],
    is_write: bool, idem: str | None,
) -> AjaxResult:
    """The §5 loop in Python, for a transport that only has ``perform``."""
    max_retries = http.restriction.max_retries
    if max_retries < 1:
        raise _exhausted_error(query)

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
            }, area="http")
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
            emit(logger, LogLevel.INFO, "http auth error detected", {"request_id": rid, "method": method},
                 area="http")
            http._auth.refresh_auth()
            emit(logger, LogLevel.INFO, "http refreshing auth token", {"request_id": rid, "method": method},
                 area="http")
            _rate_gate(http)
            outcome = _post(http, method, params, rid, query, idem, verbose)

        elapsed_ms = (time.monotonic() - started) * 1000.0
        if not isinstance(outcome, AjaxError) and outcome.kind != _core.ERROR:
            # success path: OK, or a 2xx answer carrying an error (never retried)
            answer = outcome.answer
            secret = http._auth._secret
            if verbose:
                res = answer.get("result", _MISSING) if isinstance(answer, dict) else _MISSING
                tm = answer.get("time", _MISSING) if isinstance(answer, dict) else _MISSING
                emit(logger, LogLevel.INFO, "post/response", {
                    "request_id": rid, "result": _text(res, secret), "time": _text(tm, secret),
                }, area="http")
            result = AjaxResult._from_outcome(outcome, query)
            if result.is_success and isinstance(answer, dict) and isinstance(answer.get("time"), dict):
                http.restriction.record_success(method, answer["time"])
            metrics.success(method, elapsed_ms)
            if verbose:
                emit(logger, LogLevel.DEBUG, "http request successful", {
                    "request_id": rid, "method": method,
                    "duration": {"ms": round(elapsed_ms, 3), "sec": round(elapsed_ms / 1000.0, 3)},
                }, area="http")
            return result

        # failure path
        if isinstance(outcome, AjaxError):
            err = outcome
        else:
            if verbose:
                emit(logger, LogLevel.INFO, "post/catchError", {
                    "request_id": rid, "status": outcome.status,
                    "response_data": _text(outcome.answer, http._auth._secret),
                }, area="http")
            err = _classify_failure(outcome, query, is_write)
        metrics.failure(method, err.message, elapsed_ms)
        if verbose:
            emit(logger, LogLevel.DEBUG, "http request failed", {
                "request_id": rid, "method": method, "attempt": attempt + 1,
                "error": {"code": err.code, "message": err.message, "status": err.status},
            }, area="http")
        if attempt + 1 >= max_retries:
            exhausted = max_retries > 1
            break
        maybe_sent = bool(getattr(outcome, "maybe_sent", False))
        wait = http.restriction.retry_wait_ms(err, attempt, method, maybe_sent, is_write=is_write,
                                              idempotent=idem is not None, params=params)
        if wait <= 0:
            break
        metrics.limit_hit()
        emit(logger, LogLevel.DEBUG, f"http wait {wait / 1000.0:.2f} sec.", {"wait": wait, "attempt": attempt + 1},
             event="http wait", area="http")
        _sleep_ms(wait)
        metrics.retry()

    assert err is not None
    if exhausted:
        emit(http.logger, LogLevel.WARNING, "http all retry attempts exhausted",
             {"request_id": rid, "method": method, "code": err.code}, area="http")
    return _fail(http, err, query)
