"""HTTPS server and the per-request pipeline.

Pipeline of one request (portal.md §1.2):

    read request -> admin? -> route -> hooks.before (faults) -> transport ->
    method lookup (404 before auth) -> auth -> scope -> params -> run ->
    envelope -> hooks.after -> write (always Content-Length) -> stats
"""
from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from .errors import RestError, V3Error, method_not_found
from .phpcompat import EncodingError, parse_str, parse_str_into, php_json_encode, to_xml
from .registry import REGISTRY, Call, Reply
from .timing import time_block

if TYPE_CHECKING:  # pragma: no cover
    from .portal import EmulatorPortal

log = logging.getLogger("b24hook.emulator")

JSON_CT = "application/json; charset=utf-8"
XML_CT = "text/xml; charset=utf-8"


@dataclass
class Request:
    verb: str
    path: str
    query: str
    headers: Any
    body: bytes
    t_start: float
    api: str | None = None          # "v2" | "v3" | None (not a REST path)
    uid: str | None = None
    secret: str | None = None
    method: str | None = None       # lower-case method name
    transport: str = "json"
    webhook: Any = None


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = JSON_CT
    headers: dict = field(default_factory=dict)
    close: bool = False             # drop the connection without answering
    envelope: Any = None            # the dict before encoding (hooks may rewrite)


def parse_route(path: str) -> tuple[str | None, str | None, str | None, str | None, str]:
    """-> (api, uid, secret, method, transport); api None if not a REST path."""
    segs = [unquote(s) for s in path.split("/")]
    if len(segs) < 3 or segs[0] != "" or segs[1] != "rest":
        return None, None, None, None, "json"
    segs = segs[2:]
    if segs and segs[-1] == "":
        segs = segs[:-1]          # one trailing slash is accepted
    api = "v2"
    if segs and segs[0] == "api":
        api, segs = "v3", segs[1:]
    if len(segs) == 3:
        uid, secret, method = segs
    elif len(segs) == 1:
        uid = secret = None
        method = segs[0]
    else:
        return api, None, None, "", "json"
    transport = "json"
    low = method.lower()
    if api == "v2":
        if low.endswith(".json"):
            low = low[:-5]
        elif low.endswith(".xml"):
            low, transport = low[:-4], "xml"
    return api, uid, secret, low, transport


def _content_type(headers: Any) -> str:
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _parse_multipart(body: bytes, ctype_full: str) -> dict:
    from email.parser import BytesParser
    from email.policy import HTTP
    msg = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + ctype_full.encode("latin-1") + b"\r\n\r\n" + body)
    qs_parts = []
    from urllib.parse import quote
    out: dict = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        value = filename if filename else payload.decode("utf-8", "replace")
        qs_parts.append(f"{quote(name, safe='[]')}={quote(value, safe='')}")
    return parse_str_into(out, "&".join(qs_parts))


def v2_params(req: Request) -> dict:
    """§2.1: query merged with body; body keys win (shallow)."""
    params = parse_str(req.query) if req.query else {}
    body: dict = {}
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


class Dispatcher:
    """Runs the portal logic for one parsed request; knows nothing of sockets."""

    def __init__(self, portal: "EmulatorPortal") -> None:
        self.portal = portal

    # -------------------------------------------------------------- helpers
    def json_response(self, status: int, body: Any, transport: str = "json") -> Response:
        if transport == "xml":
            return Response(status, to_xml(body), XML_CT, envelope=body)
        try:
            data = php_json_encode(body)
        except EncodingError:
            body = {"error": "WRONG_ENCODING", "error_description": "Wrong request encoding"}
            data = php_json_encode(body)
        return Response(status, data, JSON_CT, envelope=body)

    def error(self, req: Request, exc: RestError | V3Error) -> Response:
        if isinstance(exc, RestError) and req.api == "v3" and \
                self.portal.settings.v3_system_error_shape == "v3":
            exc = V3Error(exc.code, exc.description, exc.status)
        return self.json_response(exc.status, exc.body(), req.transport)

    # -------------------------------------------------------------- entry
    def dispatch(self, req: Request) -> Response:
        try:
            if req.api == "v3":
                return self._v3(req)
            return self._v2(req)
        except (RestError, V3Error) as exc:
            return self.error(req, exc)
        except Exception:  # noqa: BLE001 - the portal answers, never crashes
            log.exception("internal error in %s", req.method)
            return self.json_response(500, {"error": "INTERNAL_SERVER_ERROR",
                                            "error_description": "Internal server error"})

    def _auth(self, req: Request, spec) -> None:
        p = self.portal
        if req.uid is None:
            raise RestError("NO_AUTH_FOUND", "Wrong authorization data", 401)
        wh = p.find_webhook(req.uid, req.secret)
        if wh is None:
            raise RestError("INVALID_CREDENTIALS", "Invalid request credentials",
                            p.settings.auth_error_status)
        req.webhook = wh
        if spec.scope is not None and not wh.has_scope(spec.scope):
            if req.api == "v3":
                raise V3Error("INSUFFICIENTSCOPEEXCEPTION",
                              "The request requires higher privileges than provided by the webhook token",
                              403)
            raise RestError("insufficient_scope",
                            "The request requires higher privileges than provided by the webhook token",
                            p.settings.auth_error_status)

    def _run(self, req: Request, spec, params: dict, start: Any) -> tuple[Any, float, float]:
        p = self.portal
        call = Call(portal=p, webhook=req.webhook, method=spec.name.lower(), api=req.api,
                    params=params, start=start, http_method=req.verb)
        t0 = time.perf_counter()
        result = spec.handler(call)
        real = time.perf_counter() - t0
        if call.cost and p.settings.sleep_simulated_cost:
            p._stopping.wait(call.cost)
        processing = real + call.cost
        key = (req.webhook.key, spec.name.lower())
        p.ledger.record(key, processing)
        return result, processing, time.time()

    def _time(self, req: Request, processing: float, finish: float, *, v3: bool = False) -> dict:
        p = self.portal
        op = None
        if p.settings.operating:
            op = p.ledger.state((req.webhook.key, req.method))
        finish = max(finish, req.t_start)
        return time_block(req.t_start, finish, processing, p.tz, op,
                          integer=v3 and p.settings.v3_integer_times)

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
        result, processing, finish = self._run(req, spec, params, start)
        body: dict
        if isinstance(result, Reply):
            body = {"result": result.result}
            if result.next is not None:
                body["next"] = result.next
            if result.total is not None:
                body["total"] = result.total
        else:
            body = {"result": result}
        body["time"] = self._time(req, processing, finish)
        return self.json_response(200, body, req.transport)

    def _v3(self, req: Request) -> Response:
        s = self.portal.settings
        spec = REGISTRY.get("v3", req.method or "")
        if spec is None:
            raise V3Error("METHODNOTFOUNDEXCEPTION",
                          f"Method `{req.method}` not found", s.v3_method_not_found_status)
        self._auth(req, spec)
        params: dict = {}
        if req.body.strip():
            if _content_type(req.headers) != "application/json":
                raise V3Error("INVALIDJSONEXCEPTION", "Request body must be valid JSON "
                              "with Content-Type: application/json", 400)
            try:
                data = json.loads(req.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise V3Error("INVALIDJSONEXCEPTION", "Request body must be valid JSON", 400)
            if not isinstance(data, dict):
                raise V3Error("INVALIDJSONEXCEPTION", "Request body must be a JSON object", 400)
            params = data
        params.pop("auth", None)
        result, processing, finish = self._run(req, spec, params, None)
        if isinstance(result, Reply) and result.bare:
            return self.json_response(200, result.result)
        if isinstance(result, Reply):
            result = result.result
        body = {"result": result, "time": self._time(req, processing, finish, v3=True)}
        return self.json_response(200, body)


# ====================================================================== HTTP

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    server: "_TLSServer"

    def setup(self) -> None:
        self.timeout = self.server.portal.settings.idle_timeout
        super().setup()
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle's
        # algorithm and the client's delayed ACK add ~40 ms to every answer.
        try:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)

    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _handle(self) -> None:
        portal = self.server.portal
        t_start = time.time()
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        parts = urlsplit(self.path)
        req = Request(self.command, parts.path, parts.query, self.headers, body, t_start)
        if parts.path.startswith("/_emulator/"):
            self._write(portal.admin(req))
            return
        req.api, req.uid, req.secret, req.method, req.transport = parse_route(parts.path)
        if req.api is None:
            self._write(Response(404, b"<html><body><h1>404 Not Found</h1></body></html>",
                                 "text/html; charset=utf-8"))
            portal._count("<non-rest>", 404)
            return
        resp = portal.pipeline(req)
        if resp.close:
            self.close_connection = True
            portal._count(req.method or "", 0)
            return
        self._write(resp)
        portal._count(req.method or "", resp.status)

    def _write(self, resp: Response) -> None:
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "origin, content-type, accept")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    def do_OPTIONS(self) -> None:  # CORS pre-flight
        self._read_body()
        self._write(Response(200, b"", "text/plain; charset=utf-8"))


class _TLSServer(ThreadingHTTPServer):
    """Accepts plain TCP; the TLS handshake runs in the connection's thread so a
    slow or silent client never blocks accept()."""
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, addr, portal: "EmulatorPortal", ctx: ssl.SSLContext) -> None:
        self.portal = portal
        self.ssl_ctx = ctx
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def finish_request(self, request, client_address) -> None:
        if self.portal._stopping.is_set():
            return
        request.settimeout(10.0)
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True,
                                           do_handshake_on_connect=False)
        except (ssl.SSLError, OSError):
            return
        with self._conns_lock:
            self._conns.add(tls)
        try:
            if self.portal._stopping.is_set():
                return
            tls.do_handshake()
            self.RequestHandlerClass(tls, client_address, self)
        except (ssl.SSLError, OSError, ConnectionError):
            pass
        finally:
            with self._conns_lock:
                self._conns.discard(tls)
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        log.debug("connection error from %s", client_address, exc_info=True)

    def kick_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
