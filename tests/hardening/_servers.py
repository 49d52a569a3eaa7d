"""Hostile HTTPS servers on 127.0.0.1 for the hardening tests.

``TLSServer(handler, cert)`` accepts TLS connections (one thread each),
reads HTTP/1.1 requests (headers + Content-Length body) and passes each to
``handler(conn, request) -> bool`` (False closes the connection).  Handshake
failures (the client refusing our certificate) are counted, not raised.
"""
from __future__ import annotations

import socket
import ssl
import threading
import zlib
from dataclasses import dataclass, field
from typing import Callable

import trustme

SECRET = "hardening-secret-7d31e0b9"


@dataclass
class Request:
    line: str
    headers: dict[str, str]
    body: bytes


@dataclass
class TLSServer:
    handler: Callable[[ssl.SSLSocket, Request], bool]
    cert: trustme.LeafCert
    handshake_failures: int = 0
    requests: int = 0
    _conns: list[socket.socket] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.cert.configure_cert(self.ctx)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, secret: str = SECRET) -> str:
        return f"https://127.0.0.1:{self.port}/rest/1/{secret}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            raw.settimeout(30)
            try:
                conn = self.ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                self.handshake_failures += 1
                return
            buf = b""
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for ln in lines[1:]:
                    k, _, v = ln.partition(":")
                    headers[k.strip().lower()] = v.strip()
                need = int(headers.get("content-length", "0"))
                while len(buf) < need:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = buf[:need], buf[need:]
                self.requests += 1
                if not self.handler(conn, Request(lines[0], headers, body)):
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            try:
                raw.close()
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()
        for c in self._conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def __enter__(self) -> "TLSServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- handlers ---------------------------------------------------------------

def send_answer(conn: ssl.SSLSocket, body: bytes, status: int = 200,
                ctype: str = "application/json", extra: str = "") -> bool:
    head = (f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode()
    conn.sendall(head + body)
    return True


def fixed(body: bytes, status: int = 200) -> Callable[[ssl.SSLSocket, Request], bool]:
    return lambda conn, req: send_answer(conn, body, status)


def endless_body(total: int, chunk: int = 1 << 20) -> Callable[[ssl.SSLSocket, Request], bool]:
    """Declare `total` bytes of JSON-ish body and stream it until the client hangs up."""
    def h(conn: ssl.SSLSocket, req: Request) -> bool:
        conn.sendall((f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {total}\r\n\r\n").encode())
        conn.sendall(b'{"result":"')
        sent, block = 11, b"a" * chunk
        while sent < total:
            conn.sendall(block[: min(chunk, total - sent)])
            sent += chunk
        return False
    return h


def gzip_bomb(inflated: int = 4 << 30) -> Callable[[ssl.SSLSocket, Request], bool]:
    """Chunked gzip body of `inflated` zero bytes (~1000:1), made on the fly."""
    def h(conn: ssl.SSLSocket, req: Request) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = b"\0" * (1 << 20)
        done = 0
        while done < inflated:
            data = z.compress(block)
            done += len(block)
            if data:
                conn.sendall(b"%x\r\n%s\r\n" % (len(data), data))
        tail = z.flush()
        conn.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
        return False
    return h


def trickle(body: bytes = b'{"result":true}', every: float = 1.0,
            stop: threading.Event | None = None) -> Callable[[ssl.SSLSocket, Request], bool]:
    """Headers at once, then one byte of body per `every` seconds."""
    def h(conn: ssl.SSLSocket, req: Request) -> bool:
        conn.sendall((f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n").encode())
        for i in range(len(body)):
            conn.sendall(body[i:i + 1])
            if stop is not None and stop.wait(every):
                return False
        return False
    return h
