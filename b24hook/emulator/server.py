"""The HTTPS server: reads a request off the socket, hands it to the portal's
pipeline (or its admin endpoints), writes the answer, counts it.

It sees the portal's state (settings, clock, counters) and the two entry points
it is given; the portal logic itself is the dispatcher's (dispatch.py).
"""
from __future__ import annotations

import logging
import re
import socket
import ssl
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

from .state import PortalState
from .wire import Request, Response, parse_route

log = logging.getLogger("b24hook.emulator")

#: what the server calls with a parsed request: the REST pipeline, the admin endpoints
Entry = Callable[[Request], Response]


_SECRET_IN_PATH = re.compile(r"(/rest/(?:api/)?[^/\s]+/)[^/\s?]+")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    server: "_TLSServer"

    def setup(self) -> None:
        super().setup()
        # the portal's idle timeout on this connection (what the class-level
        # `timeout` of StreamRequestHandler would do, per portal)
        idle = self.server.portal.settings.idle_timeout
        if idle is not None:
            self.connection.settimeout(idle)
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle's
        # algorithm and the client's delayed ACK add ~40 ms to every answer.
        try:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # The request line carries the webhook secret in its path: mask it, as
        # a careful web server does, so the access log can be shared.
        line = _SECRET_IN_PATH.sub(r"\1***", format % args)
        log.debug("%s %s", self.address_string(), line)

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
        t_start = portal.clock.now()
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        parts = urlsplit(self.path)
        req = Request(self.command, parts.path, parts.query, self.headers, body, t_start,
                      client=str(self.client_address[0]))
        if parts.path.startswith("/_emulator/"):
            self._write(self.server.admin(req))
            return
        req.api, req.uid, req.secret, req.method, req.transport = parse_route(parts.path)
        if req.api is None:
            portal.count_request("<non-rest>", 404)
            self._write(Response(404, b"<html><body><h1>404 Not Found</h1></body></html>",
                                 "text/html; charset=utf-8"))
            return
        portal.in_flight(+1)
        try:
            resp = self.server.pipeline(req)
        finally:
            portal.in_flight(-1)
        if resp.close:
            self.close_connection = True
            if resp.reset:
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                except OSError:
                    pass
            portal.count_request(req.method or "", 0, req.api)
            return
        portal.count_request(req.method or "", resp.status, req.api)   # before the answer leaves
        self._write(resp)

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
            if resp.truncate is not None:
                self.wfile.write(resp.body[:max(0, min(resp.truncate, len(resp.body) - 1))])
                self.wfile.flush()
                self.close_connection = True
                return
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
    # listen() backlog: socketserver's default of 5 drops the SYNs of a burst of
    # new connections (a planned export opens ~40 at once), which the client's
    # kernel re-sends only after 1 s; nginx (the portal's front) listens with 511
    request_queue_size = 511

    def __init__(self, addr: tuple[str, int], portal: PortalState, ctx: ssl.SSLContext,
                 pipeline: Entry, admin: Entry) -> None:
        self.portal = portal
        self.pipeline = pipeline
        self.admin = admin
        self.ssl_ctx = ctx
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def finish_request(self, request: socket.socket | tuple[bytes, socket.socket],
                       client_address: Any) -> None:
        if self.portal._stopping.is_set() or not isinstance(request, socket.socket):
            return  # (a TCP server's request is always a socket)
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
            _Handler(tls, client_address, self)
        except (ssl.SSLError, OSError, ConnectionError):
            pass
        finally:
            with self._conns_lock:
                self._conns.discard(tls)
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket],
                     client_address: Any) -> None:
        log.debug("connection error from %s", client_address, exc_info=True)

    def kick_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
