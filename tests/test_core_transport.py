"""b24hook._core.Transport against tiny local servers (plain HTTP and TLS).

No emulator: each server is a ThreadingHTTPServer whose answers are chosen
by the request path."""
from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest
import trustme

from b24hook import _core

SECRET = "TOPSECRET123xyz"
KW = dict(user_agent="b24hook/0.1.0 (test)", sdk_type="b24hook", sdk_version="0.1.0")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "Server"

    def log_message(self, *args: object) -> None:
        pass

    def reply(self, status: int, body: bytes, ctype: str = "application/json",
              extra: dict[str, str] | None = None) -> None:
        head = [f"HTTP/1.1 {status} X", f"Content-Type: {ctype}",
                f"Content-Length: {len(body)}", "X-Trace: A", "x-trace: B"]
        for k, v in (extra or {}).items():
            head.append(f"{k}: {v}")
        # One write: no Nagle/delayed-ACK stall on loopback.
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def do_POST(self) -> None:  # noqa: N802
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self.server.seen.append(self.path)
        path = self.path.split("?")[0]
        tail = path.rsplit("/", 1)[-1]
        if tail == "x.slow":
            time.sleep(1.5)
            self.reply(200, b'{"result":1}')
        elif tail == "x.reset":
            self.close_connection = True  # read the request, answer nothing
        elif tail == "x.partial":
            self.close_connection = True
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"res")
        elif tail == "x.html":
            self.reply(200, b"<html>maintenance</html>", "text/html")
        elif tail == "x.err400":
            self.reply(400, b'{"error":"INVALID_ARG","error_description":"bad arg"}')
        elif tail == "redirect.same":
            self.reply(307, b"", extra={"Location": f"/rest/1/{SECRET}/echo.after"})
        elif tail == "redirect.loop":
            self.reply(302, b"", extra={"Location": self.path})
        elif tail == "redirect.cross":
            self.reply(301, b"", extra={
                "Location": f"https://moved.example.com:8443/rest/1/{SECRET}/x"})
        else:
            echo = {"path": self.path, "body": json.loads(body or b"null"),
                    "headers": {k.lower(): v for k, v in self.headers.items()}}
            self.reply(200, json.dumps({"result": echo, "time": {"start": 1}}).encode())


class Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[str]


def _start(tls_ctx: ssl.SSLContext | None = None) -> tuple[Server, str]:
    srv = Server(("127.0.0.1", 0), Handler)
    srv.seen = []
    scheme = "http"
    if tls_ctx is not None:
        srv.socket = tls_ctx.wrap_socket(srv.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"{scheme}://127.0.0.1:{srv.server_address[1]}/rest/1/{SECRET}"


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[Server, str]]:
    srv, base = _start()
    yield srv, base
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_server(ca: trustme.CA) -> Iterator[tuple[Server, str]]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    srv, base = _start(ctx)
    yield srv, base
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    p = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(p))
    return str(p)


def transport(base: str, **kw: object) -> _core.Transport:
    return _core.Transport(base, SECRET, **{**KW, **kw})  # type: ignore[arg-type]


def assert_secret_free(o: _core.Outcome) -> None:
    for text in (o.code, o.message, o.detail):
        assert text is None or SECRET not in text


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- constructor and properties -------------------------------------------

def test_constructor_and_properties(http_server):
    _, base = http_server
    t = transport(base, timeout=5, headers={"X-A": "1"})
    assert t.timeout == 5.0 and t.verify is True and t.closed is False
    assert t.connections_opened == 0
    h = t.headers
    assert h == {"X-A": "1"}
    h["X-B"] = "2"
    assert t.headers == {"X-A": "1"}  # getter returns a copy
    t.headers = {"X-C": "3"}
    assert t.headers == {"X-C": "3"}
    t.timeout = 1.5
    assert t.timeout == 1.5
    with pytest.raises(ValueError):
        t.timeout = 0
    with pytest.raises(ValueError):
        t.timeout = float("nan")
    with pytest.raises(TypeError):
        t.headers = {"X": 1}  # type: ignore[dict-item]
    assert transport(base, verify=False).verify is False
    assert transport(base, verify="/tmp/ca.pem").verify == "/tmp/ca.pem"
    with pytest.raises(TypeError):
        _core.Transport(base, SECRET)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        transport(base, timeout=-1)
    with pytest.raises(TypeError):
        transport(base, verify=3)
    with pytest.raises(ValueError):
        transport("not a url")
    t.close()
    assert t.closed


def test_closed_error_and_context_manager(http_server):
    _, base = http_server
    with transport(base) as t:
        assert t.perform("a.b", None, "r").kind == _core.OK
    assert t.closed
    with pytest.raises(_core.ClosedError):
        t.perform("a.b", None, "r")
    t.close()  # idempotent
    assert issubclass(_core.ClosedError, RuntimeError)


def test_close_while_in_flight(http_server):
    _, base = http_server
    t = transport(base)
    out: list[_core.Outcome] = []
    th = threading.Thread(target=lambda: out.append(t.perform("x.slow", None, "r")))
    th.start()
    time.sleep(0.3)
    t.close()
    th.join()
    assert out[0].kind == _core.OK and out[0].answer == {"result": 1}
    with pytest.raises(_core.ClosedError):
        t.perform("a.b", None, "r")


# ---- the exchange ------------------------------------------------------------

def test_success_wire_format(http_server):
    srv, base = http_server
    t = transport(base, headers={"accept": "text/x", "X-Extra": "1"})
    o = t.perform("crm.item.list", {"a": 1, "data": {"start": 5, "x": 2}}, "rid 1",
                  idempotency_key="idem-42")
    assert isinstance(o, _core.Outcome)
    assert o.kind == _core.OK and o.status == 200 and o.code is None and o.message is None
    assert o.maybe_sent is True and o.detail is None and o.elapsed_ms > 0
    echo = o.answer["result"]
    assert echo["path"] == (f"/rest/1/{SECRET}/crm.item.list?bx24_request_id=rid+1"
                            "&bx24_sdk_ver=0.1.0&bx24_sdk_type=b24hook")
    assert echo["body"] == {"a": 1, "data": {"x": 2}}
    hd = echo["headers"]
    assert hd["content-type"] == "application/json"
    assert hd["accept"] == "text/x"
    assert hd["user-agent"] == KW["user_agent"]
    assert hd["x-extra"] == "1" and hd["idempotency-key"] == "idem-42"
    assert o.headers["x-trace"] == "B" and o.headers["content-type"] == "application/json"
    assert o.answer["time"] == {"start": 1}


def test_body_forms_and_task_carveout(http_server):
    _, base = http_server
    t = transport(base)
    assert t.perform("a.b", None, "r").answer["result"]["body"] == {}
    assert t.perform("batch", [{"m": 1}, "x"], "r").answer["result"]["body"] == {
        "0": {"m": 1}, "1": "x"}
    p = t.perform("task.commentitem.getlist", {"x": 1}, "r").answer["result"]["path"]
    assert p == f"/rest/1/{SECRET}/task.commentitem.getlist"
    p = t.perform("tasks.task.list", {}, "r").answer["result"]["path"]
    assert "?bx24_request_id=r&" in p
    p = t.perform("odd name/é", {}, "r").answer["result"]["path"]
    assert p.startswith(f"/rest/1/{SECRET}/odd%20name%2F%C3%A9?")


def test_each_call_sends_its_own_url_on_a_reused_parsed_base(http_server):
    """The part of the URL before the query is parsed once per base and method
    (CURLOPT_CURLU) and each call sets its own query: alternating methods, new
    request ids, a task.* URL without a query and a redirect in between all
    reach the server exactly as built."""
    _, base = http_server
    t = transport(base)
    q = "&bx24_sdk_ver=0.1.0&bx24_sdk_type=b24hook"
    for i, method in enumerate(["a.b", "a.b", "c.d", "a.b", "task.x.y", "a.b", "redirect.same",
                                "a.b", "odd name/é", "a.b"]):
        o = t.perform(method, {"i": i}, f"rid {i}")
        assert o.kind == _core.OK, (method, o.code)
        path = o.answer["result"]["path"]
        if method == "task.x.y":
            assert path == f"/rest/1/{SECRET}/task.x.y"
        elif method == "redirect.same":
            assert path == f"/rest/1/{SECRET}/echo.after"
            assert o.answer["result"]["body"] == {"i": i}
        elif method == "odd name/é":
            assert path == f"/rest/1/{SECRET}/odd%20name%2F%C3%A9?bx24_request_id=rid+{i}" + q
        else:
            assert path == f"/rest/1/{SECRET}/{method}?bx24_request_id=rid+{i}" + q


def test_params_errors_before_io(http_server):
    srv, base = http_server
    t = transport(base)
    before = len(srv.seen)
    cyc: dict = {}
    cyc["c"] = cyc
    for bad in (cyc, {"s": {1}}, "text", {"f": float("nan")}):
        with pytest.raises(_core.ParamsError):
            t.perform("a.b", bad, "r")
    assert len(srv.seen) == before
    with pytest.raises(TypeError):
        t.perform("a.b", None)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        t.perform("a.b", None, "r", bogus=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        t.perform("a.b", None, "r", timeout=0)
    t.headers = {"X": "a\r\nInjected: 1"}
    with pytest.raises(ValueError):
        t.perform("a.b", None, "r")


def test_keep_alive_reuse(http_server):
    _, base = http_server
    t = transport(base)
    for i in range(20):
        assert t.perform("a.b", {"i": i}, "r").kind == _core.OK
    assert t.connections_opened == 1


def test_timeout(http_server):
    _, base = http_server
    t = transport(base, timeout=0.3)
    o = t.perform("x.slow", None, "r")
    assert (o.kind, o.code, o.status, o.message) == (
        _core.ERROR, "REQUEST_TIMEOUT", 408, "Request timeout exceeded")
    assert o.maybe_sent is True
    assert o.detail and "imeout" in o.detail
    assert_secret_free(o)
    # per-call timeout overrides the transport's
    o = transport(base, timeout=10).perform("x.slow", None, "r", timeout=0.2)
    assert o.code == "REQUEST_TIMEOUT"


def test_connection_refused():
    base = f"http://127.0.0.1:{free_port()}/rest/1/{SECRET}"
    o = transport(base).perform("a.b", None, "r")
    assert (o.kind, o.code, o.status, o.message) == (
        _core.ERROR, "NETWORK_ERROR", 0, "Network connection failed")
    assert o.maybe_sent is False and o.answer is None
    assert o.detail
    assert_secret_free(o)


@pytest.mark.parametrize("method", ["x.reset", "x.partial"])
def test_failure_after_send_is_maybe_sent(http_server, method):
    _, base = http_server
    o = transport(base).perform(method, None, "r")
    assert (o.kind, o.code, o.status) == (_core.ERROR, "NETWORK_ERROR", 0)
    assert o.maybe_sent is True
    assert o.detail
    assert_secret_free(o)


def test_non_json_2xx_and_4xx(http_server):
    _, base = http_server
    t = transport(base)
    o = t.perform("x.html", None, "r")
    assert (o.kind, o.code, o.status) == (_core.ERROR, "ERROR_UNEXPECTED_ANSWER", 200)
    assert o.answer is None
    o = t.perform("x.err400", None, "r")
    assert (o.kind, o.code, o.status, o.message) == (_core.ERROR, "INVALID_ARG", 400, "bad arg")
    assert o.answer == {"error": "INVALID_ARG", "error_description": "bad arg"}


def test_redirects(http_server):
    srv, base = http_server
    t = transport(base)
    o = t.perform("redirect.same", {"k": 1}, "r")
    assert o.kind == _core.OK
    assert o.answer["result"]["path"] == f"/rest/1/{SECRET}/echo.after"
    assert o.answer["result"]["body"] == {"k": 1}  # re-POSTed
    o = t.perform("redirect.cross", None, "r")
    assert (o.kind, o.code, o.status) == (_core.ERROR, "PORTAL_MOVED", 301)
    assert o.message == "Portal moved to https://moved.example.com:8443"
    assert "/rest" not in o.message
    assert_secret_free(o)
    before = len(srv.seen)
    o = t.perform("redirect.loop", None, "r")
    assert o.kind == _core.ERROR and o.status == 302
    assert len(srv.seen) - before == 6  # first try + 5 follows


def test_tls_verify(tls_server, ca_file, tmp_path):
    _, base = tls_server
    o = transport(base, verify=ca_file).perform("a.b", None, "r")
    assert o.kind == _core.OK
    o = transport(base, verify=False).perform("a.b", None, "r")
    assert o.kind == _core.OK
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    o = transport(base, verify=str(other)).perform("a.b", None, "r")
    assert (o.kind, o.code, o.status) == (_core.ERROR, "NETWORK_ERROR", 0)
    assert o.maybe_sent is False
    assert_secret_free(o)
    o = transport(base).perform("a.b", None, "r")  # system CAs: untrusted
    assert o.code == "NETWORK_ERROR"


def test_tls_keep_alive(tls_server, ca_file):
    _, base = tls_server
    t = transport(base, verify=ca_file)
    for _ in range(20):
        assert t.perform("a.b", None, "r").kind == _core.OK
    assert t.connections_opened == 1


def test_threads_share_one_transport(http_server):
    _, base = http_server
    t = transport(base)
    errors: list[object] = []

    def work(n: int) -> None:
        for i in range(100):
            o = t.perform("a.b", {"n": n, "i": i}, f"r{n}-{i}")
            if o.kind != _core.OK or o.answer["result"]["body"] != {"n": n, "i": i}:
                errors.append(o)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert 1 <= t.connections_opened <= 8
    t.close()


# ---- issue 9 item 5: the path reaches the server verbatim -------------------

@pytest.mark.parametrize("method", ["..", ".", "a..b", "..."])
def test_dot_segments_are_sent_as_is(http_server, method):
    """CURLOPT_PATH_AS_IS: libcurl never folds `/./` or `/../` (which would drop the
    secret segment and call another URL); the server sees the path as built."""
    srv, base = http_server
    with transport(base) as t:
        o = t.perform(method, None, "r")
    assert o.kind == _core.OK, (o.code, o.message)
    path = o.answer["result"]["path"].split("?")[0]
    assert path == f"/rest/1/{SECRET}/{method}"


def test_keywords_in_any_order(http_server):
    """The argument parser starts each keyword's search after the last match
    (issue 10): keywords in any order, repeated or unknown, still resolve or
    refuse exactly as before."""
    _, base = http_server
    t = transport(base)
    lim = _core.Limiter(None)
    for kw in ({"limiter": lim, "idempotency_key": "k1", "is_write": False},
               {"is_write": False, "idempotency_key": "k1", "limiter": lim},
               {"event_details": False, "limiter": lim, "timeout": None, "idempotency_key": "k1"}):
        o = t.call("echo.kw", {"a": 1}, "rid", **kw)
        assert o.kind == _core.OK, kw
        assert o.answer["result"]["headers"]["idempotency-key"] == "k1"
    o = t.perform("echo.kw", None, "r", idempotency_key="k2")
    assert o.answer["result"]["headers"]["idempotency-key"] == "k2"
    with pytest.raises(TypeError, match="multiple values for argument 'params'"):
        t.perform("echo.kw", None, "r", params=None)
    with pytest.raises(TypeError, match="unexpected keyword argument 'limiterr'"):
        t.call("echo.kw", None, "r", limiter=lim, limiterr=lim)
    with pytest.raises(TypeError, match="multiple values for argument 'request_id'"):
        t.call("echo.kw", None, "r", limiter=lim, request_id="r")
    with pytest.raises(TypeError, match="missing required argument 'request_id'"):
        t.perform("echo.kw", params=None)
    t.close()


def test_outcome_headers_made_on_first_read(http_server):
    """An Outcome keeps the response headers as the core's C strings and makes
    the dict when ``headers`` is first read (issue 10): the same dict on every
    later read, the same answer key for key on every exchange."""
    _, base = http_server
    t = transport(base)
    first = t.perform("a.b", None, "r")
    hd = first.headers
    assert first.headers is hd
    assert hd["content-type"] == "application/json" and hd["x-trace"] == "B"
    assert hd["content-length"].isdigit()
    for _ in range(3):
        again = t.perform("a.b", None, "r")
        assert "x-trace" in repr(again)  # repr makes the dict too
        assert list(again.headers) == list(hd)
    t.close()


def test_outcome_is_a_value_with_named_fields() -> None:
    """Outcome((9 fields)): read-only fields, == field by field, positional
    patterns; no tuple behaviour and no hash (a dict field)."""
    fields = (_core.OK, 200, {"result": 1}, None, None, False, 1.5, None, {"x": "1"})
    o = _core.Outcome(fields)
    assert (o.kind, o.status, o.answer, o.code, o.message, o.maybe_sent, o.elapsed_ms, o.detail,
            o.headers) == fields
    assert o == _core.Outcome(list(fields))  # type: ignore[arg-type]
    assert o != _core.Outcome((*fields[:8], {"x": "2"}))
    assert o != fields
    match o:
        case _core.Outcome(kind, status, answer):
            assert (kind, status, answer) == (_core.OK, 200, {"result": 1})
        case _:
            pytest.fail("no positional pattern")
    with pytest.raises(AttributeError):
        o.status = 500  # type: ignore[misc]
    with pytest.raises(TypeError):
        hash(o)
    with pytest.raises(TypeError):
        _core.Outcome(fields[:8])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        o[0]  # type: ignore[index]
