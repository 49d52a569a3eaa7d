"""2xx answers the classification reads from their end (the tail read of
b24_envelope.c) and the ones it must not: the real Transport and the face
against a local server, each answer's Outcome pinned to what the full
reading gives (a top-level `error` before or after `result`, an escaped key,
a body broken before its `time`, `time` keys that are not the top level's)."""
from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
import trustme

from b24hook import AjaxError, B24Hook
from b24hook import _core

SECRET = "TAILSECRET0987zyx"
KW = dict(user_agent="b24hook/0.1.0 (test)", sdk_type="b24hook", sdk_version="0.1.0")
TIME = '"time":{"start":1.5,"finish":1.6,"duration":0.1,"processing":0.05,"operating_reset_at":1767215400,"operating":0.25}'

# method -> the 2xx body the server answers
BODIES: dict[str, bytes] = {
    "err.before": ('{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests at /rest/1/'
                   + SECRET + '/crm.item.list","result":[],' + TIME + "}").encode(),
    "err.after": ('{"result":{"items":[{"id":1,"time":{"a":1}}]},"error":"NOT_FOUND",'
                  '"error_description":"Not found",' + TIME + "}").encode(),
    "err.object": ('{"result":null,"error":{"code":"ACCESS_DENIED","message":"No access. "},' + TIME + "}").encode(),
    "err.escaped": ('{"result":1,"\\u0065rror":"ESCAPED_KEY","error_description":"via an escape",' + TIME + "}").encode(),
    "err.desc_only": ('{"result":1,"error_description":"alone",' + TIME + "}").encode(),
    "ok.page": ('\ufeff {"result":{"items":[{"id":1,"title":"\\"error\\" in a title","time":{"x":"\\u0432"}}]},'
                '"next":50,"total":51, ' + TIME + " }\n").encode(),
    "ok.error_value": ('{"result":{"status":"error","note":"error"},' + TIME + "}").encode(),
    "bad.middle": ('{"result":[1,,2],' + TIME + "}").encode(),
    "bad.string": ('{"result":["\\x"],' + TIME + "}").encode(),
    "bad.nested_cut": ('{"result":[{"id":1,' + TIME + "}").encode(),
    "bad.time_in_string": ('{"result":"a,' + TIME.replace('"', '\\"') + '"}').encode(),
}

# what the full reading gives each: (kind, code, message, answer)
EXPECTED: dict[str, tuple[int, str | None, str | None, Any]] = {
    "err.before": (_core.FAILED, "QUERY_LIMIT_EXCEEDED",
                   "Too many requests at /rest/1/***REDACTED***/crm.item.list",
                   "scrubbed"),
    "err.after": (_core.FAILED, "NOT_FOUND", "Not found", "same"),
    "err.object": (_core.FAILED, "ACCESS_DENIED", "No access.", "same"),
    "err.escaped": (_core.FAILED, "ESCAPED_KEY", "via an escape", "same"),
    "err.desc_only": (_core.OK, None, None, "same"),
    "ok.page": (_core.OK, None, None, "same"),
    "ok.error_value": (_core.OK, None, None, "same"),
    "bad.middle": (_core.ERROR, "ERROR_UNEXPECTED_ANSWER",
                   "Unexpected answer: the body is not JSON (HTTP 200)", None),
    "bad.string": (_core.ERROR, "ERROR_UNEXPECTED_ANSWER",
                   "Unexpected answer: the body is not JSON (HTTP 200)", None),
    "bad.nested_cut": (_core.ERROR, "ERROR_UNEXPECTED_ANSWER",
                       "Unexpected answer: the body is not JSON (HTTP 200)", None),
    "bad.time_in_string": (_core.OK, None, None, "same"),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = BODIES[self.path.split("?")[0].rsplit("/", 1)[-1]]
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        self.wfile.write(head.encode() + body)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ca_path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{srv.server_address[1]}/rest/1/{SECRET}", str(ca_path)
    srv.shutdown()
    srv.server_close()


def _answer(method: str, how: Any) -> Any:
    if how is None:
        return None
    text = BODIES[method].decode("utf-8").lstrip("\ufeff")
    if how == "scrubbed":
        text = text.replace(SECRET, "***REDACTED***")
    return json.loads(text)


@pytest.mark.parametrize("method", sorted(BODIES))
def test_transport_outcome(server: tuple[str, str], method: str) -> None:
    t = _core.Transport(server[0], SECRET, verify=server[1], **KW)  # type: ignore[arg-type]
    try:
        o = t.perform(method, None, "r")
    finally:
        t.close()
    kind, code, message, how = EXPECTED[method]
    assert (o.kind, o.status, o.code, o.message) == (kind, 200, code, message)
    assert o.answer == _answer(method, how)
    for text in (o.code, o.message, json.dumps(o.answer)):
        assert SECRET not in (text or "")


def test_face_result_of_a_2xx_error(server: tuple[str, str]) -> None:
    b24 = B24Hook.from_webhook_url(server[0], verify=server[1])
    try:
        res = b24.actions.v2.call.make("err.after", {"id": 1})
        assert not res.is_success and res.get_status() == 200
        err = res.errors["base-error"]
        assert isinstance(err, AjaxError) and (err.code, err.message) == ("NOT_FOUND", "Not found")
        ok = b24.actions.v2.call.make("ok.page", None)
        assert ok.is_success and ok.get_data()["result"] == _answer("ok.page", "same")["result"]
    finally:
        b24.close()
