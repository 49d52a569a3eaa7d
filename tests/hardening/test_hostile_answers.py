"""Hostile and broken answers end in a typed AjaxError, within the timeout,
with memory bounded (issue 6 item 3).

Each test starts its own HTTPS server on 127.0.0.1 (a trustme CA; the client
trusts it through ``verify=<ca file>``) and calls through ``B24Hook`` with
retries off, so what is measured is one exchange.
"""
from __future__ import annotations

import datetime as dt
import resource
import threading
import time
from typing import Any, Iterator

import pytest
import trustme

from b24hook import AjaxError, B24Hook

from . import _servers as S

MiB = 1 << 20


def _call(url: str, ca_path: str, timeout: float = 10.0) -> tuple[Any, float]:
    """(AjaxError or result, seconds) of one call.make through a fresh hook."""
    t0 = time.monotonic()
    with B24Hook.from_webhook_url(url, verify=ca_path, timeout=timeout,
                                  restriction_params={"max_retries": 1}) as b24:
        try:
            res: Any = b24.actions.v2.call.make("crm.item.get", {"entityTypeId": 2, "id": 1})
        except AjaxError as exc:
            res = exc
    return res, time.monotonic() - t0


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _expect(res: Any, code: str) -> AjaxError:
    assert isinstance(res, AjaxError), res
    assert res.code == code, (res.code, str(res))
    assert S.SECRET not in str(res) and S.SECRET not in repr(res)
    return res


# ---- broken bodies -----------------------------------------------------------

@pytest.mark.parametrize("body, what", [
    (b'{"result":"\xff\xfe"}', "invalid UTF-8"),
    (b'{"result":NaN}', "NaN"),
    (b'{"result":Infinity}', "Infinity"),
    (b'{"result":-Infinity}', "-Infinity"),
    (b'{"result":01}', "leading zero"),
    (b'{"result":"a\x01b"}', "raw control character"),
    (b'{"result":1,}', "trailing comma"),
    (b'{"result":"\\ud800"}', "lone surrogate escape"),
    (b'<html><body>502 Bad Gateway</body></html>', "HTML page"),
    (b'{"result":tru', "truncated"),
    (b"", "empty"),
    # bodies whose structure is sound: classify only skims them, the decode
    # rejects them (one strict pass per answer, issue 10)
    (b'{"result":[{"ID":"1","T\x01":"x"}],"time":{"operating":0}}', "control character in a nested key"),
    (b'{"result":{"a":"\\q"},"time":{}}', "bad escape in a nested value"),
    (b'{"error":"E","error_description":"d","result":"\xc3\x28"}', "invalid UTF-8 beside an error"),
    (b'{"result":"abc\\"}', "escaped closing quote: truncated"),
])
def test_not_json_is_unexpected_answer(cert, ca_path, body, what):
    with S.TLSServer(S.fixed(body), cert) as srv:
        res, took = _call(srv.url(), ca_path)
    err = _expect(res, "ERROR_UNEXPECTED_ANSWER")
    assert err.status == 200 and took < 10, what
    assert "the body is not JSON (HTTP 200)" in err.message, (what, err.message)


def test_deep_nesting_is_a_typed_cap(cert, ca_path):
    body = b'{"result":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with S.TLSServer(S.fixed(body), cert) as srv:
        res, _ = _call(srv.url(), ca_path)
    err = _expect(res, "ERROR_UNEXPECTED_ANSWER")
    assert "nesting deeper than 1000" in str(err)


def test_nesting_at_the_cap_is_accepted(cert, ca_path):
    body = b'{"result":' + b"[" * 999 + b"]" * 999 + b"}"
    with S.TLSServer(S.fixed(body), cert) as srv:
        res, _ = _call(srv.url(), ca_path)
    assert not isinstance(res, AjaxError), res
    depth, x = 0, res.get_data()["result"]
    while isinstance(x, list) and x:
        x, depth = x[0], depth + 1
    assert depth == 998


def test_string_longer_than_cap_is_a_typed_cap(cert, ca_path):
    body = b'{"result":"' + b"x" * (17 * MiB) + b'"}'
    with S.TLSServer(S.fixed(body), cert) as srv:
        res, _ = _call(srv.url(), ca_path)
    err = _expect(res, "ERROR_UNEXPECTED_ANSWER")
    assert "string longer than the cap" in str(err)


def test_duplicate_keys_last_wins_like_json_loads(cert, ca_path):
    body = b'{"result":{"ID":"1","ID":"2"},"time":{}}'
    with S.TLSServer(S.fixed(body), cert) as srv:
        res, _ = _call(srv.url(), ca_path)
    assert res.get_data()["result"] == {"ID": "2"}


def test_huge_numbers_follow_the_number_rule(cert, ca_path):
    body = (b'{"result":[9007199254740993,' + b"1" * 400 + b",-" + b"9" * 400
            + b",1e400,1e-400,123456789012345678901234567890.5]}")
    with S.TLSServer(S.fixed(body), cert) as srv:
        res, _ = _call(srv.url(), ca_path)
    r = res.get_data()["result"]
    assert r[0] == 9007199254740993 and isinstance(r[0], int)       # exact
    assert r[1] == int("1" * 400) and r[2] == -int("9" * 400) and r[3] == float("inf")
    assert r[4] == 0 and r[5] == 1.2345678901234568e29


# ---- size caps ----------------------------------------------------------------

def test_body_over_the_cap_is_cut_with_memory_bounded(cert, ca_path):
    before = _peak_rss_mib()
    with S.TLSServer(S.endless_body(200 * MiB), cert) as srv:
        res, took = _call(srv.url(), ca_path, timeout=30)
    err = _expect(res, "ERROR_UNEXPECTED_ANSWER")
    assert "exceeds" in str(err) and took < 30
    # 64 MiB cap (+ the buffer's doubling slack), never the declared 200 MiB
    assert _peak_rss_mib() - before < 190


def test_gzip_bomb_is_capped_after_inflation(cert, ca_path):
    before = _peak_rss_mib()
    with S.TLSServer(S.gzip_bomb(4 << 30), cert) as srv:  # 4 GiB of zeros
        res, took = _call(srv.url(), ca_path, timeout=30)
    err = _expect(res, "ERROR_UNEXPECTED_ANSWER")
    assert "exceeds" in str(err) and took < 30
    assert _peak_rss_mib() - before < 190


def test_small_gzip_answer_still_works(cert, ca_path):
    import gzip
    body = gzip.compress(b'{"result":{"ok":true},"time":{}}')

    def h(conn, req):
        return S.send_answer(conn, body, extra="Content-Encoding: gzip\r\n")
    with S.TLSServer(h, cert) as srv:
        res, _ = _call(srv.url(), ca_path)
    assert res.get_data()["result"] == {"ok": True}


# ---- slow servers ---------------------------------------------------------------

def test_trickling_server_ends_at_the_total_timeout(cert, ca_path):
    stop = threading.Event()
    try:
        with S.TLSServer(S.trickle(b'{"result":"' + b"x" * 100 + b'"}', 0.5, stop),
                         cert) as srv:
            res, took = _call(srv.url(), ca_path, timeout=2.0)
    finally:
        stop.set()
    err = _expect(res, "REQUEST_TIMEOUT")
    assert err.status == 408
    assert 1.9 <= took < 4.0, took


def test_silent_server_ends_at_the_total_timeout(cert, ca_path):
    stop = threading.Event()

    def h(conn, req):
        stop.wait(10)
        return False
    try:
        with S.TLSServer(h, cert) as srv:
            res, took = _call(srv.url(), ca_path, timeout=1.5)
    finally:
        stop.set()
    _expect(res, "REQUEST_TIMEOUT")
    assert took < 3.5


# ---- TLS ------------------------------------------------------------------------

def _tls_failure(res: Any, srv: S.TLSServer) -> None:
    err = _expect(res, "NETWORK_ERROR")
    assert err.status == 0
    assert srv.requests == 0  # nothing was ever sent over the bad channel
    detail = str(getattr(err, "original_error", "") or "")
    assert S.SECRET not in detail


def test_certificate_for_another_host_is_refused(ca, ca_path):
    cert = ca.issue_cert("wrong.example")
    with S.TLSServer(S.fixed(b'{"result":true}'), cert) as srv:
        res, took = _call(srv.url(), ca_path)
        _tls_failure(res, srv)
    assert took < 5


def test_expired_certificate_is_refused(ca, ca_path):
    now = dt.datetime.now(dt.timezone.utc)
    cert = ca.issue_cert("127.0.0.1", not_before=now - dt.timedelta(days=30),
                         not_after=now - dt.timedelta(days=1))
    with S.TLSServer(S.fixed(b'{"result":true}'), cert) as srv:
        res, took = _call(srv.url(), ca_path)
        _tls_failure(res, srv)
    assert took < 5


def test_unknown_ca_is_refused(cert):
    other = trustme.CA()
    with S.TLSServer(S.fixed(b'{"result":true}'), cert) as srv:
        import tempfile
        with tempfile.NamedTemporaryFile(suffix=".pem") as f:
            other.cert_pem.write_to_path(f.name)
            res, _ = _call(srv.url(), f.name)
        _tls_failure(res, srv)


def test_verify_false_accepts_the_wrong_host(ca):
    cert = ca.issue_cert("wrong.example")
    with S.TLSServer(S.fixed(b'{"result":{"ok":1},"time":{}}'), cert) as srv:
        with B24Hook.from_webhook_url(srv.url(), verify=False, timeout=5) as b24:
            assert b24.actions.v2.call.make("x.y").get_data()["result"] == {"ok": 1}
