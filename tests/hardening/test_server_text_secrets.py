"""A portal or proxy that echoes the request URL in what it sends back never
puts the secret into an error, a log record, the stats or a traceback with
locals (issue 9 items 4 and 12, spec §11.1 and §8.2).

Each hostile server echoes the request path (``/rest/1/<secret>/<method>``)
somewhere: the JSON ``error_description`` (plain and with PHP's ``\\/``
escapes), the error code, a non-JSON body, a ``Location`` header, the status
line's reason phrase, or the bare secret in prose.
"""
from __future__ import annotations

import json
import logging
import sys
import traceback
from typing import Any, Callable

import pytest
import trustme

from b24hook import AjaxError, B24Hook, SdkError

from . import _servers as S


def _path(req: S.Request) -> str:
    return req.line.split(" ")[1]  # "/rest/1/<secret>/crm.item.get.json" or the like


def _json_desc(conn: Any, req: S.Request) -> bool:
    body = json.dumps({"error": "ERROR_CORE",
                       "error_description": f"Bad request https://127.0.0.1{_path(req)} refused"})
    return S.send_answer(conn, body.encode(), 400)


def _json_escaped(conn: Any, req: S.Request) -> bool:
    # PHP's json_encode escapes "/" as "\/": the raw text has no "/rest/"
    path = _path(req).replace("/", "\\/")
    body = '{"error":"ERROR_CORE","error_description":"no route ' + path + '"}'
    return S.send_answer(conn, body.encode(), 500)


def _json_code(conn: Any, req: S.Request) -> bool:
    body = json.dumps({"error": f"NOT_FOUND {_path(req)}", "error_description": "x"})
    return S.send_answer(conn, body.encode(), 404)


def _json_error_object(conn: Any, req: S.Request) -> bool:
    body = json.dumps({"error": {"code": "BITRIX_REST_V3_EXCEPTION_X",
                                 "message": f"at {_path(req)}",
                                 "validation": [{"message": f"field of {_path(req)}"}]}})
    return S.send_answer(conn, body.encode(), 400)


def _bare_secret(conn: Any, req: S.Request) -> bool:
    body = json.dumps({"error": "INVALID_CREDENTIALS",
                       "error_description": f"token {S.SECRET} is not valid"})
    return S.send_answer(conn, body.encode(), 401)


def _html(conn: Any, req: S.Request) -> bool:
    body = f"<html><body>502 Bad Gateway for GET {_path(req)}</body></html>".encode()
    return S.send_answer(conn, body, 502, ctype="text/html")


def _html_200(conn: Any, req: S.Request) -> bool:
    body = f"proxy login page for {_path(req)}".encode()
    return S.send_answer(conn, body, 200, ctype="text/plain")


def _location_other(conn: Any, req: S.Request) -> bool:
    extra = f"Location: https://other.example{_path(req)}\r\n"
    return S.send_answer(conn, b"", 302, extra=extra)


def _location_same(conn: Any, req: S.Request) -> bool:
    # a same-origin redirect to itself: followed until the hop limit
    port = req.headers["host"].rsplit(":", 1)[1]
    extra = f"Location: https://127.0.0.1:{port}{_path(req)}\r\nContent-Location: {_path(req)}\r\n"
    return S.send_answer(conn, json.dumps({"error": "X", "error_description": _path(req)}).encode(),
                         307, extra=extra)


def _reason(conn: Any, req: S.Request) -> bool:
    body = json.dumps({"error": "ERROR_CORE"}).encode()
    head = (f"HTTP/1.1 503 {_path(req)}\r\nContent-Type: application/json\r\n"
            f"X-Debug-Url: {_path(req)}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    conn.sendall(head + body)
    return True


HANDLERS: dict[str, Callable[[Any, S.Request], bool]] = {
    "error_description": _json_desc,
    "error_description_php_escaped": _json_escaped,
    "error_code": _json_code,
    "error_object_v3": _json_error_object,
    "bare_secret_in_prose": _bare_secret,
    "non_json_body_502": _html,
    "non_json_body_200": _html_200,
    "location_other_origin": _location_other,
    "location_same_origin_loop": _location_same,
    "status_line_reason": _reason,
}


class _All(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s %(b24)s"))
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not hasattr(record, "b24"):
            record.b24 = None
        self.texts.append(self.format(record))
        self.texts.append(repr(record.args) + repr(record.__dict__))


def _tb_with_locals(exc: BaseException) -> str:
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__, capture_locals=True)
    return "".join(te.format())


@pytest.mark.parametrize("kind", list(HANDLERS))
@pytest.mark.parametrize("api", ["v2", "v3"])
def test_server_echo_of_the_url_never_shows_the_secret(kind: str, api: str, cert, ca_path) -> None:
    captured = _All()
    logger = logging.getLogger(f"b24hook.test.echo.{kind}.{api}")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(captured)
    logger.propagate = False
    with S.TLSServer(HANDLERS[kind], cert) as srv:
        with B24Hook.from_webhook_url(srv.url(), verify=ca_path, timeout=10,
                                      restriction_params={"max_retries": 2,
                                                          "retry_delay": 10}) as b24:
            b24.set_logger(logger)
            actions = getattr(b24.actions, api)
            texts: list[str] = []
            try:
                res = actions.call.make("crm.item.get", {"entityTypeId": 2, "id": 1})
            except SdkError as exc:
                err = exc
                texts += [str(err), repr(err), err.to_string(), json.dumps(err.to_json(), default=str),
                          _tb_with_locals(err), "".join(traceback.format_exception(err))]
                try:
                    raise err
                except SdkError:
                    texts.append(traceback.format_exc())
                    etype, evalue, etb = sys.exc_info()
                    te = traceback.TracebackException(etype, evalue, etb, capture_locals=True)  # type: ignore[arg-type]
                    texts.append("".join(te.format()))
            else:
                # a soft failure comes back as a failed result
                assert not res.is_success, kind
                texts += [repr(res), str(res.get_error_messages()), repr(res.get_errors())]
            stats = b24.get_http_client(api).get_stats()
            texts.append(repr(stats))
            texts.append(json.dumps(stats, default=str))
    assert srv.requests >= 1
    assert captured.texts, "the logger saw nothing: the test would prove nothing"
    texts += captured.texts
    for t in texts:
        assert S.SECRET not in t, (kind, t.replace(S.SECRET, "<SECRET>")[:400])


def test_stats_last_errors_keep_the_scrubbed_text(cert, ca_path) -> None:
    with S.TLSServer(_json_desc, cert) as srv:
        with B24Hook.from_webhook_url(srv.url(), verify=ca_path,
                                      restriction_params={"max_retries": 1}) as b24:
            with pytest.raises(AjaxError):
                b24.actions.v2.call.make("crm.item.get", {"id": 1})
            stats = b24.get_http_client("v2").get_stats()
    text = repr(stats)
    assert "***REDACTED***" in text and "/rest/1/***REDACTED***/" in text
    assert S.SECRET not in text


# ---- AjaxError built from text the client did not see (spec §8.2) -------------

OTHER = "x9y8z7w6other0secret"


@pytest.mark.parametrize("text", [
    f"curl: (7) Failed to connect to https://p.bitrix24.com/rest/12/{OTHER}/crm.item.add",
    f"proxy: GET /rest/api/3/{OTHER}/tasks.task.list 502",
    f"upstream {{\"url\":\"https:\\/\\/p.example\\/rest\\/1\\/{OTHER}\\/x\"}}",
    f"encoded %2Frest%2F1%2F{OTHER}%2Fm",
    f"base https://p.example/REST/1/{OTHER}",
])
def test_ajax_error_masks_any_webhook_token_in_its_message(text: str) -> None:
    errors = [
        AjaxError.from_exception(RuntimeError(text), request_info={"method": "m", "params": {}}),
        AjaxError("NETWORK_ERROR", 0, text),
        SdkError.from_exception(ValueError(text)),
        AjaxError.create("X", 500, text, None, {"method": "m", "params": {}, "request_id": "r"}),
    ]
    for err in errors:
        for t in (str(err), repr(err), err.to_string(), json.dumps(err.to_json(), default=str),
                  "".join(traceback.format_exception(err)), repr(err.args)):
            assert OTHER not in t, t
        assert "***REDACTED***" in err.message


def test_ajax_error_keeps_ordinary_text() -> None:
    msg = "Not found: crm.item.get (id=5) at /rest/crm.item.get; see /rest/1/"
    assert AjaxError("X", 400, msg).message == msg


# ---- get_auth_data (spec §3.1) --------------------------------------------------

def test_get_auth_data_masks_the_secret_when_printed() -> None:
    url = f"https://x.bitrix24.com/rest/1/{S.SECRET}"
    with B24Hook.from_webhook_url(url) as b24:
        for data in (b24.auth.get_auth_data(), b24.auth.refresh_auth()):
            assert data["access_token"] == S.SECRET
            assert data["domain"] == "x.bitrix24.com"
            for t in (repr(data), str(data), f"{data}", "%s" % (data,), repr([data])):
                assert S.SECRET not in t and "***REDACTED***" in t
            assert dict(data)["access_token"] == S.SECRET
            assert data == {"access_token": S.SECRET, "refresh_token": "hook", "expires": 0,
                            "expires_in": 0, "domain": "x.bitrix24.com",
                            "member_id": "x.bitrix24.com"}
            assert sorted(data) == sorted(dict(data))
            assert len(data) == 6
            with pytest.raises(TypeError):
                data["access_token"] = "x"  # type: ignore[index]


def test_batch_command_error_echoing_the_url_is_scrubbed(cert, ca_path) -> None:
    def h(conn: Any, req: S.Request) -> bool:
        body = json.dumps({"result": {
            "result": [], "result_error": {"0": {"error": "ERROR_CORE",
                                                 "error_description": f"bad https://h{_path(req)}"}},
            "result_total": [], "result_next": [], "result_time": []},
            "time": {"start": 1, "finish": 1, "duration": 0, "processing": 0,
                     "date_start": "", "date_finish": ""}})
        return S.send_answer(conn, body.encode(), 200)

    with S.TLSServer(h, cert) as srv:
        with B24Hook.from_webhook_url(srv.url(), verify=ca_path,
                                      restriction_params={"max_retries": 1}) as b24:
            res = b24.actions.v2.batch.make([("crm.item.get", {"id": 1})])
            raw = b24.get_http_client("v2").batch([("crm.item.get", {"id": 1})])
    assert not res.is_success
    texts = [repr(res.errors), str(res.get_error_messages()), repr(raw.errors),
             str(raw.get_error_messages()), repr(raw.get_data())]
    texts += [e.to_string() + json.dumps(e.to_json(), default=str) for e in res.errors.values()]
    assert any("***REDACTED***" in t for t in texts)
    for t in texts:
        assert S.SECRET not in t, t.replace(S.SECRET, "<SECRET>")
