"""The dispatcher: runs the portal's logic for one parsed request.  It knows
nothing of sockets (server.py reads and writes them).

Pipeline of one request (portal.md §1.2):

    read request -> admin? -> route -> hooks.before (faults) -> transport ->
    method lookup (404 before auth) -> auth -> scope -> params -> run ->
    envelope -> hooks.after -> write (always Content-Length) -> stats

``Dispatcher.execute`` is the one place a method runs: the HTTP path and both
batches (through ``Call.dispatcher``) call it.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from .errors import RestError, V3Error, method_not_found
from .idempotency import applies, body_fingerprint, valid_key
from .phpcompat import EncodingError, parse_str, parse_str_into, php_json_encode, to_xml
from .registry import REGISTRY, Call, MethodSpec, Reply
from .settings import Settings
from .state import PortalState
from .timing import time_block
from .wire import JSON_CT, XML_CT, Request, Response

log = logging.getLogger("b24hook.emulator")


def _content_type(headers: Any) -> str:
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _parse_multipart(body: bytes, ctype_full: str) -> dict[str, Any]:
    from email.parser import BytesParser
    from email.policy import HTTP
    from email.utils import collapse_rfc2231_value
    msg = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + ctype_full.encode("latin-1") + b"\r\n\r\n" + body)
    qs_parts = []
    from urllib.parse import quote
    out: dict[str, Any] = {}
    for part in msg.iter_parts():
        raw_name = part.get_param("name", header="content-disposition")
        if raw_name is None:
            continue
        # typed str | tuple (RFC 2231 under the compat32 policy); the HTTP policy gives a str
        name = collapse_rfc2231_value(raw_name) if isinstance(raw_name, tuple) else raw_name
        filename = part.get_filename()
        raw = part.get_payload(decode=True)
        payload = raw if isinstance(raw, bytes) else b""
        value = filename if filename else payload.decode("utf-8", "replace")
        qs_parts.append(f"{quote(name, safe='[]')}={quote(value, safe='')}")
    return parse_str_into(out, "&".join(qs_parts))


def v2_params(req: Request) -> dict[str, Any]:
    """§2.1: query merged with body; body keys win (shallow)."""
    params = parse_str(req.query) if req.query else {}
    body: dict[str, Any] = {}
    if req.body:
        ctype = _content_type(req.headers)
        if ctype == "application/json":
            try:
                data = json.loads(req.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                data = None           # silently "no parameters"
            if isinstance(data, dict):
                body = data
            elif isinstance(data, list):
                body = {str(i): v for i, v in enumerate(data)}
        elif ctype == "multipart/form-data":
            try:
                body = _parse_multipart(req.body, req.headers.get("Content-Type", ""))
            except Exception:  # noqa: BLE001 - malformed multipart = no params
                body = {}
        else:
            body = parse_str(req.body)
    params.update(body)
    return params


def json_response(status: int, body: Any, transport: str = "json") -> Response:
    """The portal's answer: PHP's JSON (or XML for ``.xml``), the envelope kept for the hooks."""
    if transport == "xml":
        return Response(status, to_xml(body), XML_CT, envelope=body)
    try:
        data = php_json_encode(body)
    except EncodingError:
        body = {"error": "WRONG_ENCODING", "error_description": "Wrong request encoding"}
        data = php_json_encode(body)
    return Response(status, data, JSON_CT, envelope=body)


def error_response(settings: Settings, req: Request, exc: RestError | V3Error) -> Response:
    """An error's answer; a system error on ``/rest/api/`` in the shape the settings name."""
    if isinstance(exc, RestError) and req.api == "v3" and settings.v3_system_error_shape == "v3":
        exc = V3Error(exc.code, exc.description, exc.status)
    return json_response(exc.status, exc.body(), req.transport)


class Dispatcher:
    """Runs the portal logic for one parsed request; knows nothing of sockets."""

    def __init__(self, portal: PortalState) -> None:
        self.portal = portal

    # -------------------------------------------------------------- entry
    def dispatch(self, req: Request) -> Response:
        try:
            if req.api == "v3":
                return self._v3(req)
            return self._v2(req)
        except (RestError, V3Error) as exc:
            return error_response(self.portal.settings, req, exc)
        except Exception:  # noqa: BLE001 - the portal answers, never crashes
            log.exception("internal error in %s", req.method)
            return json_response(500, {"error": "INTERNAL_SERVER_ERROR",
                                            "error_description": "Internal server error"})

    def _auth(self, req: Request, spec: MethodSpec) -> None:
        p = self.portal
        if req.uid is None:
            raise RestError("NO_AUTH_FOUND", "Wrong authorization data", 401)
        wh = p.find_webhook(req.uid, req.secret)
        if wh is None:
            raise RestError("INVALID_CREDENTIALS", "Invalid request credentials",
                            p.settings.auth_error_status)
        req.webhook = wh
        self.plan_checks()
        if spec.scope is not None and not wh.has_scope(spec.scope):
            raise self.scope_error(req.api)

    def scope_error(self, api: str | None) -> "RestError | V3Error":
        text = "The request requires higher privileges than provided by the webhook token"
        if api == "v3":
            return V3Error("INSUFFICIENTSCOPEEXCEPTION", text, 403)
        return RestError("insufficient_scope", text, self.portal.settings.auth_error_status)

    def plan_checks(self) -> None:
        """§5.4: a free plan refuses every call; a held webhook gets OVERLOAD_LIMIT."""
        p = self.portal
        if p.settings.free_plan:
            p.note("free_plan_refused")
            raise RestError("ACCESS_DENIED", "REST is available only on commercial plans.", 403)
        if p.settings.overload:
            p.note("overload_refused")
            raise RestError("OVERLOAD_LIMIT", "REST API is blocked due to overload.", 503)

    def exec_time(self, method: str) -> float:
        e = self.portal.settings.exec_time_per_call
        if isinstance(e, dict):
            return float(e.get(method, e.get("*", 0.0)) or 0.0)
        return float(e or 0.0)

    def execute(self, webhook: Any, spec: Any, params: dict[str, Any], start: Any, api: str,
                http_method: str = "POST", *, charge: bool = True, check: bool = True,
                extra: dict[str, Any] | None = None) -> tuple[Any, float, float]:
        """Run one method call: operating-limit check, handler, simulated cost,
        ledger.  -> (result, processing seconds, finish time).  Used by the
        HTTP path and by both batches."""
        p = self.portal
        s = p.settings
        method = spec.name.lower()
        key = (webhook.key, method)
        if check and s.operating_limit is not None and \
                p.ledger.would_refuse(key, s.operating_limit):
            p.note("operation_time_limit")
            raise RestError("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.", 429)
        call = Call(portal=p, dispatcher=self, webhook=webhook, method=method, api=api, params=params,
                    start=start, http_method=http_method,
                    extra=extra if extra is not None else {})
        call.cost += self.exec_time(method)
        t_begin = p.clock.now()
        t0 = time.perf_counter()
        result = spec.handler(call)
        real = time.perf_counter() - t0
        # a batch's sub-calls slept their own cost inside the handler (in `real`)
        slept = call.extra.get("sub_cost", 0.0) if s.sleep_simulated_cost else 0.0
        own = call.cost - slept
        if own > 0 and s.sleep_simulated_cost:
            wait = p.clock.real_seconds(own)
            if s.request_timeout is not None:
                wait = min(wait, p.clock.real_seconds(s.request_timeout) + 0.05)
            self._sleep(wait, call.extra.get("sleep_carry"))
        processing = max(0.0, real - p.clock.real_seconds(slept)) + call.cost
        call.extra["sim_cost"] = call.cost
        if charge:
            p.ledger.record(key, processing)
        finish = max(p.clock.now(), t_begin + processing)
        return result, processing, finish

    def _sleep(self, wait: float, carry: list[float] | None) -> None:
        """Sleep ``wait`` real seconds of simulated cost.  A batch's commands share
        ``carry``, the seconds already slept past the previous commands' due time:
        a thread wakes late when forty others hold the GIL, and without the carry a
        batch of k commands would last their costs plus k late wake-ups (1.1-1.5 s
        instead of 1.0 s for ten 100 ms pages); with it, the sum of their costs."""
        if carry is not None:
            ahead = min(carry[0], wait)
            carry[0] -= ahead
            wait -= ahead
        if wait <= 0:
            return
        t0 = time.perf_counter()
        if self.portal._stopping.wait(wait):
            return
        if carry is not None:
            carry[0] += max(0.0, time.perf_counter() - t0 - wait)

    def time_for(self, webhook: Any, method: str, start: float, processing: float,
                 finish: float, *, v3: bool = False) -> dict[str, Any]:
        p = self.portal
        op = p.ledger.state((webhook.key, method)) if p.settings.operating else None
        return time_block(start, max(finish, start), processing, p.tz, op,
                          integer=v3 and p.settings.v3_integer_times)

    def _time(self, req: Request, processing: float, finish: float, *, v3: bool = False) -> dict[str, Any]:
        return self.time_for(req.webhook, req.method or "", req.t_start, processing, finish, v3=v3)

    def _billing(self, name: str) -> tuple[bool, bool]:
        """(charge, check) of a top-level call: in the documented mode ``batch`` is
        in the limiter's ignore list."""
        if name == "batch" and self.portal.settings.batch_billing == "documented":
            return False, False
        return True, True

    def _cut_off(self, req: Request, processing: float, finish: float) -> Response | None:
        p = self.portal
        lim = p.settings.request_timeout
        if lim is None:
            return None
        if processing > lim or finish - req.t_start > lim:
            p.note("cutoffs")
            return p.cutoff_response()
        return None

    def _v2(self, req: Request) -> Response:
        if req.transport not in ("json", "xml"):
            raise RestError("ERROR_UNEXPECTED_ANSWER", "Wrong transport!", 500)
        spec = REGISTRY.get("v2", req.method or "")
        if spec is None:
            raise method_not_found()
        self._auth(req, spec)
        params = v2_params(req)
        start = params.pop("start", None)
        for k in [k for k in params if str(k).startswith("bx24_")]:
            del params[k]
        for k in ("auth", "state", "aplogin", "ap"):
            params.pop(k, None)
        charge, check = self._billing(spec.name)
        extra: dict[str, Any] = {"t_start": req.t_start}
        result, processing, finish = self.execute(req.webhook, spec, params, start, "v2", req.verb,
                                                  charge=charge, check=check, extra=extra)
        cut = self._cut_off(req, processing, finish)
        if cut is not None:
            return cut
        body: dict[str, Any]
        if isinstance(result, Reply):
            body = {"result": result.result}
            if result.next is not None:
                body["next"] = result.next
            if result.total is not None:
                body["total"] = result.total
        else:
            body = {"result": result}
        body["time"] = self._time(req, processing, finish)
        for blk in extra.get("patch_operating", ()):       # observed batch billing
            if "operating" in body["time"]:
                blk["operating"] = body["time"]["operating"]
                blk["operating_reset_at"] = body["time"]["operating_reset_at"]
        return json_response(200, body, req.transport)

    def v3_body(self, req: Request, spec: Any) -> tuple[dict[str, Any], Any]:
        params: dict[str, Any] = {}
        data: Any = None
        if req.body.strip():
            if _content_type(req.headers) != "application/json":
                raise V3Error("INVALIDJSONEXCEPTION", "Request body must be valid JSON "
                              "with Content-Type: application/json", 400)
            try:
                data = json.loads(req.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise V3Error("INVALIDJSONEXCEPTION", "Request body must be valid JSON", 400)
            if isinstance(data, list) and spec.name == "batch":
                return {}, data
            if not isinstance(data, dict):
                raise V3Error("INVALIDJSONEXCEPTION", "Request body must be a JSON object", 400)
            params = data
        params.pop("auth", None)
        return params, data

    def _v3(self, req: Request) -> Response:
        p = self.portal
        s = p.settings
        spec = REGISTRY.get("v3", req.method or "")
        if spec is None:
            raise V3Error("METHODNOTFOUNDEXCEPTION",
                          f"Method `{req.method}` not found", s.v3_method_not_found_status)
        self._auth(req, spec)
        echo: dict[str, Any] = {}
        ikey = None
        fp = ""
        idem = req.headers.get("Idempotency-Key")
        if idem is not None and applies(spec.name):
            if not valid_key(idem):
                raise V3Error("INVALIDIDEMPOTENCYKEYEXCEPTION",
                              "Idempotency key must be 1 to 255 printable ASCII characters", 400)
            echo = {"Idempotency-Key": idem}
            ikey = (req.webhook.key, req.webhook.user_id, spec.name.lower(), idem)
            fp = body_fingerprint(req.body)
            stored = p.idempotency.get(ikey, s.idempotency_ttl)
            if stored is not None:
                if stored.fingerprint != fp:
                    resp = error_response(self.portal.settings, req, V3Error(
                        "IDEMPOTENCYKEYREUSEDEXCEPTION",
                        "Idempotency key was already used with a different request body", 422))
                    resp.headers.update(echo)
                    return resp
                p.note("idempotent_replays")
                return Response(stored.status, stored.body, stored.content_type,
                                headers={**echo, "Idempotent-Replayed": "true"})
        try:
            params, raw = self.v3_body(req, spec)
            charge, check = self._billing(spec.name)
            extra: dict[str, Any] = {"body": raw, "t_start": req.t_start}
            result, processing, finish = self.execute(req.webhook, spec, params, None, "v3", req.verb,
                                                      charge=charge, check=check, extra=extra)
        except (RestError, V3Error) as exc:
            resp = error_response(self.portal.settings, req, exc)
            resp.headers.update(echo)
            return resp
        cut = self._cut_off(req, processing, finish)
        if cut is not None:
            return cut
        if isinstance(result, Reply) and result.bare:
            return json_response(200, result.result)
        if isinstance(result, Reply):
            result = result.result
        body = {"result": result, "time": self._time(req, processing, finish, v3=True)}
        resp = json_response(200, body)
        resp.headers.update(echo)
        if ikey is not None:
            p.idempotency.put(ikey, fp, resp.status, resp.body, resp.content_type)
        return resp
