"""Malformed answers are failures, never a wrong success (issue 9 item 6).

A 200 body that is JSON but not an object, a batch answer without its
``result``/``result_error`` maps, duplicate ``error`` keys (one rule for every
status: the last wins, like ``json.loads``) and bytes after a declared body on
a kept-alive connection (never taken as the next call's answer).
"""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
import trustme

from b24hook import AjaxError, B24Hook

from . import _servers as S

pytestmark = pytest.mark.timeout(120)


def _hook(srv: S.TLSServer, ca_path: str) -> B24Hook:
    return B24Hook.from_webhook_url(srv.url(), verify=ca_path, timeout=10,
                                    restriction_params={"max_retries": 1})


@pytest.mark.parametrize("body", [b"42", b"null", b"[]", b" [1, 2] ", b'"x"', b"true"])
@pytest.mark.parametrize("surface", ["call", "batch"])
def test_a_2xx_body_that_is_not_an_object_is_a_failure(cert: Any, ca_path: str, body: bytes,
                                                        surface: str) -> None:
    with S.TLSServer(S.fixed(body), cert) as srv, _hook(srv, ca_path) as b24:
        with pytest.raises(AjaxError) as info:
            if surface == "call":
                b24.actions.v2.call.make("crm.item.get", {"id": 1})
            else:
                b24.actions.v2.batch.make({"a": ["crm.item.get", {"id": 1}]})
        assert info.value.code == "ERROR_UNEXPECTED_ANSWER"
        assert "not a JSON object" in info.value.message


@pytest.mark.parametrize("body", [b'{"result": null}', b'{"result": {}}', b'{"result": []}',
                                  b'{"result": 7}'])
@pytest.mark.parametrize("halt", [True, False])
def test_a_batch_answer_without_its_maps_is_a_failure(cert: Any, ca_path: str, body: bytes,
                                                       halt: bool) -> None:
    with S.TLSServer(S.fixed(body), cert) as srv, _hook(srv, ca_path) as b24:
        with pytest.raises(AjaxError) as info:
            b24.actions.v2.batch.make({"a": ["crm.item.add", {"entityTypeId": 2, "fields": {}}]},
                                      is_halt_on_error=halt)
        assert info.value.code == "ERROR_UNEXPECTED_ANSWER"
        assert info.value.maybe_committed  # a write went out: it may have run


@pytest.mark.parametrize("status,body,code,message", [
    (200, b'{"error":"A","error":{"code":"B","message":"m"}}', "B", "m"),
    (200, b'{"error":{"code":"B"},"error":"A","error_description":"d"}', "A", "d"),
    (400, b'{"error":"A","error":"B"}', "B", None),
    (400, b'{"error":"A","error_description":"d1","error":"B","error_description":"d2"}', "B", "d2"),
    (500, b'{"error":{"code":"X","code":"Y","message":"1","message":"2"}}', "Y", "2"),
    (403, b'{"\\u0065rror":"A","error":"B"}', "B", None),
])
def test_duplicate_error_keys_follow_one_rule_the_last_wins(cert: Any, ca_path: str, status: int,
                                                             body: bytes, code: str,
                                                             message: str | None) -> None:
    assert json.loads(body)  # the reference rule
    with S.TLSServer(S.fixed(body, status), cert) as srv, _hook(srv, ca_path) as b24:
        try:
            res: Any = b24.actions.v2.call.make("crm.item.get", {"id": 1})
            assert not res.is_success
            err = next(iter(res.errors.values()))
        except AjaxError as exc:
            err = exc
        assert err.code == code
        if message is not None:
            assert err.message == message


def _extra_bytes_server(mode: str) -> Any:
    """Answers each request with its own id; the first answer is followed by a
    whole stale second response (same write, or a moment later)."""
    n = [0]

    def handle(conn: Any, req: S.Request) -> bool:
        n[0] += 1
        own = json.loads(req.body or b"{}").get("id")
        body = json.dumps({"result": {"id": own}}).encode()
        stale = json.dumps({"result": {"id": "STALE"}}).encode()
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        extra = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(stale)}\r\n\r\n").encode() + stale
        if n[0] == 1 and mode == "same write":
            conn.sendall(head + body + extra)
        elif n[0] == 1:
            conn.sendall(head + body)
            time.sleep(0.2)
            conn.sendall(extra)
        else:
            conn.sendall(head + body)
        return True
    return handle


@pytest.mark.parametrize("mode", ["same write", "a moment later"])
def test_bytes_after_a_body_are_never_the_next_answer(cert: Any, ca_path: str, mode: str) -> None:
    with S.TLSServer(_extra_bytes_server(mode), cert) as srv, _hook(srv, ca_path) as b24:
        for i in range(1, 5):
            res = b24.actions.v2.call.make("crm.item.get", {"id": i})
            assert res.get_data()["result"] == {"id": i}
            time.sleep(0.3)
        assert srv.requests == 4


@pytest.mark.parametrize("surface", ["call", "batch"])
def test_an_answer_error_is_classified_once_by_the_core(cert: Any, ca_path: str, surface: str) -> None:
    """A call's AjaxResult takes code and message from the core's reading of
    the wire bytes, a batch sub-answer from the same C rules (issue 10 item
    3): a null error_description reads as absent (JS ``??``) in both."""
    if surface == "call":
        body = b'{"error":"X_GONE","error_description":null}'
    else:
        body = (b'{"result":{"result":{},"result_error":{"a":{"error":"X_GONE",'
                b'"error_description":null}},"result_total":{},"result_next":{},'
                b'"result_time":{}},"time":{"start":1,"finish":1,"duration":0}}')
    with S.TLSServer(S.fixed(body), cert) as srv, _hook(srv, ca_path) as b24:
        if surface == "call":
            res: Any = b24.actions.v2.call.make("crm.item.get", {"id": 1})
        else:
            res = b24.actions.v2.batch.make({"a": ["crm.item.get", {"id": 1}]}, is_halt_on_error=False)
        assert not res.is_success
        err = next(iter(res.errors.values()))
        assert (err.code, err.message) == ("X_GONE", "Some error in response")
