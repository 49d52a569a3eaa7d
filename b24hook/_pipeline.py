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

Every rule of the loop is the C engine's (``csrc/core/b24_engine.c``); the
tests drive the same engine through ``_core.scripted_transport`` (scripted
answers in place of exchanges), never through a Python copy of it.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any, NoReturn

from . import _core
from ._checks import check_method, check_request_id, closed_error, invalid_params_error, is_write_call
from ._errors import AjaxError
from ._enums import ApiVersion
from ._logging import LogLevel, emit, log_wants, wants_details
from ._params import batch_method_names
from ._protocols import PipelineHttp
from ._redact import redact_sensitive_params
from ._result import AjaxResult

__all__ = ["run_call", "arun_call", "aoutcome", "await_outcome", "astart", "aresult", "Flights"]

#: The transport a call runs on, as this module sees it: ``_http.Http`` sits
#: above this module (``Http.call`` runs the pipeline), so its type here is the
#: protocol of what the steps below read of it.
Http = PipelineHttp


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


# ---------------------------------------------------------------- events
_DECIDED_TITLES = {"rate": "rateLimiter ", "operating": "operatingLimiter "}


# ---------------------------------------------------------------- face
def _client_side_warning(http: "Http") -> None:
    """The JS SDK's warning against webhooks on the client side (emscripten only)."""
    emit(http.logger, LogLevel.WARNING, http._client_side_warning_message,
         {"code": "JSSDK_CLIENT_SIDE_WARNING"}, event="client side warning", area="http")


def _fail(http: "Http", err: AjaxError, query: dict[str, Any]) -> AjaxResult:
    if http.restriction.is_soft(err.code):
        return AjaxResult._failed(err, query)
    _raise(err)


def _raise(err: BaseException) -> NoReturn:
    raise err from None


# ---------------------------------------------------------------- driver
class _Prepared:
    """One call made ready for a driver: checked, its request id, query,
    write class and Idempotency-Key; also the call's event sink.

    As the sink (``on_event``: :meth:`sink`) it turns the C pipeline's
    events into the log lines of §11.3. The core calls it with the GIL
    briefly taken, only when a logger is installed; the logger is read at
    each event (loggers are dynamic). Anything it raises is swallowed by
    the core (fire-and-forget), except a KeyboardInterrupt, which stops the
    call.
    """

    __slots__ = ("http", "method", "params", "rid", "query", "is_write", "idem", "events", "verbose",
                 "batch")

    def __init__(self, http: "Http", method: str, params: Any, request_id: str | None) -> None:
        if http._closed:
            raise closed_error()
        check_method(method)
        if request_id is not None:
            check_request_id(request_id)
        # the generator is stateless: its id straight from the core (one frame less per call)
        rid = request_id or _core.uuid7()
        if params is None:
            params = {}
        query: dict[str, Any] = {"method": method, "params": params, "request_id": rid}
        logger = http._logger
        events, verbose = log_wants(logger)
        # serialisability check (the transport repeats it before any I/O)
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
        self.http = http
        self.method = method
        self.params = params
        self.rid = rid
        self.query = query
        self.is_write = is_write
        # The core builds and delivers an event only for a logger that records it:
        # none at all for a quiet one, no per-attempt details unless INFO is on.
        self.events = events
        self.verbose = verbose
        # an Idempotency-Key makes a v3 write safe to re-send; the portal
        # honours it on create/update/delete methods, never on `batch`
        # (portal.md §8.6): a v3 batch of writes goes without one, under the
        # safe-write rule like a v2 write (docs/decisions.md)
        self.idem = _core.uuid7() if (
            is_write and http.api_version is ApiVersion.V3 and method != "batch") else None
        self.batch = batch_method_names(method, params) if method == "batch" else None
        if http._client_side_warning and sys.platform == "emscripten":
            _client_side_warning(http)  # the check inline: no frame on other platforms

    def sink(self) -> "_Prepared | None":
        """The ``on_event`` of this call: itself, or None for a logger that records no event."""
        return self if self.events else None

    def kwargs(self, http: "Http") -> dict[str, Any]:
        """The keywords of ``Transport.call`` for this call, without the limiter
        (the C page walk passes them on for each page)."""
        return {"idempotency_key": self.idem, "is_write": self.is_write,
                "batch_methods": self.batch, "on_event": self.sink(), "event_details": self.verbose}

    def finish(self, http: "Http", outcome: _core.Outcome) -> AjaxResult:
        """The final Outcome as the face gives it: an AjaxResult (success, a
        2xx error answer, a soft code) or the raised AjaxError."""
        if outcome.kind != _core.ERROR:
            return AjaxResult._from_outcome(outcome, self.query)
        err = _core.outcome_error(outcome, self.query, is_write=self.is_write)
        assert err is not None
        if err.code == "JSSDK_CALL_ALL_ATTEMPTS_EXHAUSTED":
            _raise(err)  # never soft: no attempt was made
        return _fail(http, err, self.query)

    def refused(self, exc: BaseException) -> NoReturn:
        """A transport's refusal before any I/O, as the face raises it."""
        if isinstance(exc, _core.ParamsError):
            raise invalid_params_error(self.query, exc) from None
        if isinstance(exc, _core.ClosedError):
            raise closed_error() from None
        raise exc

    def __call__(self, kind: str, ev: dict[str, Any]) -> None:
        logger = self.http._logger
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


def run_call(http: "Http", method: str, params: Any, request_id: str | None = None) -> AjaxResult:
    """Run one REST call through the engine (blocking driver); see the module docstring."""
    p = _Prepared(http, method, params, request_id)
    try:
        outcome = http._transport.call(
            p.method, p.params, p.rid, limiter=http.restriction._limiter, idempotency_key=p.idem,
            is_write=p.is_write, batch_methods=p.batch, on_event=p if p.events else None,
            event_details=p.verbose)
    except (_core.ParamsError, _core.ClosedError) as exc:
        p.refused(exc)
    return p.finish(http, outcome)


def astart(http: "Http", driver: _core.AioMulti, p: _Prepared) -> "asyncio.Future[_core.Outcome]":
    """Start the prepared call ``p`` on ``driver`` (``_core.AioMulti``): the future
    of its Outcome. A refusal before any I/O is raised as the face raises it."""
    try:
        return driver.start(p.method, p.params, p.rid, **p.kwargs(http))
    except (_core.ParamsError, _core.ClosedError) as exc:
        p.refused(exc)


def aresult(p: _Prepared, fut: "asyncio.Future[_core.Outcome]") -> _core.Outcome:
    """The Outcome of a done future of :func:`astart` (the client closed while
    the call ran: the closed client's error)."""
    try:
        return fut.result()
    except _core.ClosedError as exc:
        p.refused(exc)


async def aoutcome(http: "Http", driver: _core.AioMulti, p: _Prepared) -> _core.Outcome:
    """Run the prepared call ``p`` on the loop: its final Outcome. Cancelling the
    awaiting task stops the call's transfer or wait; the driver goes on serving
    the other calls."""
    return await await_outcome(driver, p, astart(http, driver, p))


async def await_outcome(driver: _core.AioMulti, p: _Prepared,
                        fut: "asyncio.Future[_core.Outcome]") -> _core.Outcome:
    """The final Outcome of ``fut`` (from :func:`astart`), as :func:`aoutcome`
    awaits it; for a caller that keeps the future to stop the call itself."""
    try:
        return await fut
    except asyncio.CancelledError:
        driver.cancel(fut)
        raise
    except _core.ClosedError as exc:  # the client was closed while the call ran
        p.refused(exc)


async def arun_call(http: "Http", driver: _core.AioMulti, method: str, params: Any,
                    request_id: str | None = None) -> AjaxResult:
    """:func:`run_call` on an asyncio loop: the same preparation and mapping,
    the engine driven by ``driver`` (``_core.AioMulti``, libcurl's multi socket
    interface on the loop)."""
    p = _Prepared(http, method, params, request_id)
    return p.finish(http, await aoutcome(http, driver, p))


class Flights:
    """Several calls at once on one thread: the engine's multi driver
    (``_core.Multi``, libcurl's multi interface, the GIL released while it
    runs). Each call gets the whole pipeline of a single call: limiter, retries,
    safe writes, events.

    ``add(key, method, params, request_id)`` starts a call; ``run()`` blocks
    until at least one is done and returns ``[(key, AjaxResult | AjaxError)]``
    (a call's raised error is returned in its slot: the caller decides).
    Used by one thread at a time; ``close()`` (or ``with``) stops what is left.
    """

    __slots__ = ("_http", "_multi", "_prepared")

    def __init__(self, http: "Http") -> None:
        if http._closed:
            raise closed_error()
        self._http = http
        self._multi = _core.Multi(http._transport, http.restriction.limiter)
        self._prepared: dict[Any, _Prepared] = {}

    @property
    def active(self) -> int:
        """Calls started and not yet returned by :meth:`run`."""
        return self._multi.active

    @property
    def peak(self) -> int:
        """The most exchanges that ran at once."""
        return self._multi.peak

    def add(self, key: Any, method: str, params: Any = None, request_id: str | None = None) -> None:
        """Start one call; ``key`` (hashable, unique among the calls not yet
        returned) names it in what :meth:`run` returns."""
        if key in self._prepared:
            raise ValueError(f"a call with the key {key!r} is still running")
        p = _Prepared(self._http, method, params, request_id)
        # known before the C side may start it (an event handler's KeyboardInterrupt
        # can leave the call running; run() still returns it)
        self._prepared[key] = p
        try:
            self._multi.add(key, p.method, p.params, p.rid, idempotency_key=p.idem,
                            is_write=p.is_write, batch_methods=p.batch, on_event=p.sink(),
                            event_details=p.verbose)
        except (_core.ParamsError, _core.ClosedError) as exc:
            del self._prepared[key]  # refused before it started
            p.refused(exc)

    def run(self) -> list[tuple[Any, "AjaxResult | AjaxError"]]:
        out: list[tuple[Any, AjaxResult | AjaxError]] = []
        for key, outcome in self._multi.run():
            p = self._prepared.pop(key)
            try:
                out.append((key, p.finish(self._http, outcome)))
            except AjaxError as err:
                out.append((key, err))
        return out

    def close(self) -> None:
        self._multi.close()
        self._prepared.clear()

    def __enter__(self) -> "Flights":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
