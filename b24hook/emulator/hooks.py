"""Pipeline hooks: faults (a misbehaving proxy in front of the portal) and the
request-rate limit (leaky bucket per source IP, portal.md §5.1).

A hook has ``before(portal, req) -> Response | None`` (answer instead of the
portal) and ``after(portal, req, resp) -> Response`` (rewrite the answer).
``portal.hooks`` runs them in order; ``after`` in reverse order.
"""
from __future__ import annotations

from typing import Protocol

from .dispatch import error_response, json_response
from .errors import RestError
from .faults import STATUS_ERRORS
from .settings import Settings
from .state import PortalState
from .wire import Request, Response, html_page


class Hook(Protocol):
    """Pipeline hook (rate limits, faults...).  ``before`` may answer instead of
    the portal; ``after`` may rewrite the answer."""

    def before(self, portal: PortalState, req: Request) -> Response | None: ...
    def after(self, portal: PortalState, req: Request, resp: Response) -> Response: ...


class FaultHook:
    """Applies ``portal.faults``; the first fault that fires is consumed."""

    def before(self, portal: PortalState, req: Request) -> Response | None:
        f = portal.faults.take(req.method)
        req.notes["fault"] = f
        if f is None:
            return None
        portal.note("faults_fired", f.kind)
        if f.kind in ("hang", "latency"):
            delay = (60.0 if f.kind == "hang" else 1.0) if f.delay is None else float(f.delay)
            cut = portal.settings.request_timeout
            if f.kind == "hang" and cut is not None and delay > portal.clock.real_seconds(cut):
                # the portal's own 60 s cut-off ends the wait
                if portal._stopping.wait(portal.clock.real_seconds(cut)):
                    return Response(0, b"", close=True)
                portal.note("cutoffs")
                return portal.cutoff_response()
            if portal._stopping.wait(delay):
                return Response(0, b"", close=True)
            return None          # then answer normally (a slow portal)
        if f.kind == "html":
            return html_page(f.status or 502)
        if f.kind == "non_json":
            return Response(f.status or 200, b"Service temporarily unavailable: maintenance. "
                            b"This is not JSON.", "text/plain; charset=utf-8")
        if f.kind in ("status", "error500"):
            status = f.status or (503 if f.kind == "status" else 500)
            code, text = STATUS_ERRORS.get(status, ("ERROR_CORE", "Error"))
            body = {"error": f.code or code, "error_description": f.description or text}
            return json_response(status, body)
        if f.kind == "reset_before":
            return Response(0, b"", close=True, reset=True)
        return None   # after-kinds act in after()

    def after(self, portal: PortalState, req: Request, resp: Response) -> Response:
        f = req.notes.get("fault")
        if f is None:
            return resp
        if f.kind == "no_time" and 200 <= resp.status < 300 \
                and isinstance(resp.envelope, dict) and "time" in resp.envelope:
            env = {k: v for k, v in resp.envelope.items() if k != "time"}
            return json_response(resp.status, env, req.transport)
        if f.kind == "null_result" and 200 <= resp.status < 300 \
                and isinstance(resp.envelope, dict) and "result" in resp.envelope:
            env = {**resp.envelope, "result": None}
            return json_response(resp.status, env, req.transport)
        if f.kind == "reset_after":
            return Response(0, b"", close=True, reset=True)
        if f.kind == "truncate":
            n = f.truncate_at if f.truncate_at is not None else len(resp.body) // 2
            resp.truncate = int(n)
            return resp
        return resp


def client_identity(settings: Settings, req: Request) -> str:
    """The leaky bucket's key: the source IP (§5.1), or, with
    ``Settings.client_identity`` naming a header, that header's value when a
    request carries it, so tests can model several hosts behind one address."""
    if settings.client_identity:
        named = req.headers.get(settings.client_identity) if req.headers is not None else None
        if named:
            return f"host:{named}"
    return req.client


class RateLimitHook:
    """§5.1: one HTTP request = one unit, per source IP (``batch`` costs one)."""

    def before(self, portal: PortalState, req: Request) -> Response | None:
        s = portal.settings
        if s.rate_limit is None:
            return None
        cap, rate = s.rate_limit
        if portal.bucket.hit(client_identity(s, req), cap, rate, portal.clock.now(),
                             s.rate_limit_count_refused):
            return None
        portal.note("query_limit_exceeded")
        return error_response(portal.settings, req, RestError("QUERY_LIMIT_EXCEEDED", "Too many requests", 503))

    def after(self, portal: PortalState, req: Request, resp: Response) -> Response:
        return resp
