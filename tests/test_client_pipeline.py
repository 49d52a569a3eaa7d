"""The call pipeline (§5) with a scripted transport: no network."""
from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from b24hook import AjaxError, AjaxResult, B24Hook, SdkError
from b24hook import _core
from tests.conftest import CLIENT_LOGGER, UNIT_SECRET


def outcome(kind: int, status: int = 200, answer: Any = None, code: str | None = None,
            message: str | None = None, maybe_sent: bool = False, detail: str | None = None) -> Any:
    return _core.Outcome((kind, status, answer, code, message, maybe_sent, 1.0, detail, {}))


@pytest.fixture
def hook() -> Any:
    h = B24Hook("x.bitrix24.com", 1, UNIT_SECRET)
    h.set_logger(logging.getLogger(CLIENT_LOGGER))
    yield h
    h.close()


class Script:
    """The C scripted transport (``_core.scripted_transport``) put in place of a
    client's transport: the real engine and driver run, each exchange replaced
    by the next scripted answer."""

    def __init__(self, transport: _core.Transport) -> None:
        self.transport = transport

    @property
    def calls(self) -> list[dict[str, Any]]:
        calls = self.transport.calls
        assert calls is not None
        return calls


def script(hook: B24Hook, version: str, *outcomes: Any) -> Script:
    t = _core.scripted_transport(*outcomes)
    hook.get_http_client(version)._transport = t
    return Script(t)


def test_ok_outcome(hook: B24Hook) -> None:
    t = script(hook, "v2", outcome(_core.OK, 200, {"result": 5, "time": {"operating": 0.1}}))
    res = hook.actions.v2.call.make("server.time", None, "rid")
    assert res.is_success and res.get_data() == {"result": 5, "time": {"operating": 0.1}}
    assert t.calls == [{"method": "server.time", "params": {}, "request_id": "rid", "idempotency_key": None}]


def test_failed_outcome_is_returned_never_raised(hook: B24Hook) -> None:
    script(hook, "v2", outcome(_core.FAILED, 200, {"error": "NOT_FOUND", "error_description": "gone"}, "NOT_FOUND", "gone"))
    res = hook.actions.v2.call.make("crm.item.get", {"id": 1})
    assert not res.is_success and res.get_status() == 200
    err = res.errors["base-error"]
    assert isinstance(err, AjaxError) and (err.code, err.message) == ("NOT_FOUND", "gone")
    stats = hook.get_http_client("v2").get_stats()
    assert stats["successful_requests"] == 1 and stats["failed_requests"] == 0


def test_error_with_soft_code_gives_failed_result(hook: B24Hook) -> None:
    script(hook, "v3", outcome(_core.ERROR, 400, {"error": {"code": "X"}},
                               "BITRIX_REST_V3_EXCEPTION_INVALIDFILTEREXCEPTION", "bad filter"))
    res = hook.actions.v3.call.make("tasks.task.list", {"filter": [["x", "=", 1]]})
    assert not res.is_success and res.get_status() == 400
    err = res.errors["base-error"]
    assert (err.code, err.message, err.status) == (  # type: ignore[attr-defined]
        "BITRIX_REST_V3_EXCEPTION_INVALIDFILTEREXCEPTION", "bad filter", 400)
    assert hook.get_http_client("v3").get_stats()["failed_requests"] == 1


def test_user_soft_codes(hook: B24Hook) -> None:
    hook.set_restriction_manager_params({"soft_error_codes": ["ACCESS_DENIED"]})
    script(hook, "v2", outcome(_core.ERROR, 403, {"error": "ACCESS_DENIED"}, "ACCESS_DENIED", "Access denied!"))
    res = hook.actions.v2.call.make("crm.item.get")
    assert not res.is_success and res.get_error_messages() == ["Access denied!"]


def test_error_with_hard_code_raises_real_code(hook: B24Hook) -> None:
    hook.set_restriction_manager_params({"max_retries": 1})
    script(hook, "v2", outcome(_core.ERROR, 500, None, "ERR_BAD_RESPONSE", "Request failed with status code 500",
                               detail="upstream said no"))
    with pytest.raises(AjaxError) as info:
        hook.actions.v2.call.make("crm.item.get", {"id": 1, "password": "p"})
    err = info.value
    assert (err.code, err.status) == ("ERR_BAD_RESPONSE", 500)
    assert err.request_info["params"] == {"id": 1, "password": "***REDACTED***"}  # type: ignore[index]
    assert str(err.original_error) == "upstream said no"
    assert err.__cause__ is None and err.__suppress_context__


def test_authorize_error_forced_403(hook: B24Hook) -> None:
    script(hook, "v2", outcome(_core.ERROR, 401, {"error": "AUTHORIZE_ERROR"}, "AUTHORIZE_ERROR", "no"))
    with pytest.raises(AjaxError) as info:
        hook.actions.v2.call.make("server.time")
    assert info.value.status == 403


def test_401_expired_token_posts_once_more_within_the_attempt(hook: B24Hook) -> None:
    expired = outcome(_core.ERROR, 401, {"error": "expired_token"}, "expired_token", "expired")
    t = script(hook, "v2", expired, expired)
    with pytest.raises(AjaxError) as info:
        hook.actions.v2.call.make("server.time", None, "r1")
    assert info.value.code == "expired_token"
    assert [c["request_id"] for c in t.calls] == ["r1", "r1"]
    assert hook.get_http_client("v2").get_stats()["total_requests"] == 1


@pytest.mark.parametrize(
    "method, maybe_sent, expected",
    [("crm.item.add", True, True), ("crm.item.add", False, False), ("crm.item.get", True, False)],
)
def test_maybe_committed(hook: B24Hook, method: str, maybe_sent: bool, expected: bool) -> None:
    hook.set_restriction_manager_params({"max_retries": 1})  # one answer: the flag's mapping only
    script(hook, "v2", outcome(_core.ERROR, 408, None, "REQUEST_TIMEOUT", "Request timeout exceeded", maybe_sent))
    with pytest.raises(AjaxError) as info:
        hook.actions.v2.call.make(method)
    assert info.value.maybe_committed is expected


def test_write_verbs_are_overridable(hook: B24Hook) -> None:
    http = hook.get_http_client("v2")
    http.write_verbs = frozenset({"get"})
    script(hook, "v2", outcome(_core.ERROR, 408, None, "REQUEST_TIMEOUT", "t", True))
    with pytest.raises(AjaxError) as info:
        hook.actions.v2.call.make("crm.item.get")
    assert info.value.maybe_committed is True


def test_v3_writes_carry_an_idempotency_key(hook: B24Hook) -> None:
    t = script(hook, "v3", outcome(_core.OK, 200, {"result": {}}), outcome(_core.OK, 200, {"result": {}}))
    hook.actions.v3.call.make("tasks.task.add", {"fields": {}})
    hook.actions.v3.call.make("tasks.task.get", {"id": 1})
    assert t.calls[0]["idempotency_key"] and len(t.calls[0]["idempotency_key"]) == 36
    assert t.calls[1]["idempotency_key"] is None


def test_params_error_from_transport(hook: B24Hook) -> None:
    hook.set_logger(None)  # no pre-check: the transport's own check must be mapped
    script(hook, "v2", _core.ParamsError("cycle"))
    with pytest.raises(AjaxError) as info:
        hook.actions.v2.call.make("crm.item.add", {"a": 1})
    assert (info.value.code, info.value.status) == ("JSSDK_INVALID_PARAMS", 400)
    assert info.value.__suppress_context__


def test_closed_error_from_transport(hook: B24Hook) -> None:
    script(hook, "v2", _core.ClosedError("closed"))
    with pytest.raises(SdkError, match="closed"):
        hook.actions.v2.call.make("server.time")


def test_list_params_sent_as_given(hook: B24Hook) -> None:
    t = script(hook, "v2", outcome(_core.OK, 200, {"result": 1}))
    hook.get_http_client("v2").call("batch", [{"method": "server.time"}])
    assert t.calls[0]["params"] == [{"method": "server.time"}]


def test_client_side_warning_only_under_emscripten(hook: B24Hook, monkeypatch: pytest.MonkeyPatch,
                                                   secret_guard: Any) -> None:
    script(hook, "v2", outcome(_core.OK, 200, {"result": 1}), outcome(_core.OK, 200, {"result": 1}))
    hook.actions.v2.call.make("server.time")
    assert not [r for r in secret_guard.records if getattr(r, "b24", {}).get("code") == "JSSDK_CLIENT_SIDE_WARNING"]
    monkeypatch.setattr(sys, "platform", "emscripten")
    hook.actions.v2.call.make("server.time")
    warned = [r for r in secret_guard.records if getattr(r, "b24", {}).get("code") == "JSSDK_CLIENT_SIDE_WARNING"]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    assert "server-side" in warned[0].getMessage()


def test_off_client_side_warning(hook: B24Hook, monkeypatch: pytest.MonkeyPatch, secret_guard: Any) -> None:
    script(hook, "v2", outcome(_core.OK, 200, {"result": 1}))
    hook.off_client_side_warning()
    monkeypatch.setattr(sys, "platform", "emscripten")
    hook.actions.v2.call.make("server.time")
    assert not [r for r in secret_guard.records if getattr(r, "b24", {}).get("code") == "JSSDK_CLIENT_SIDE_WARNING"]


def test_post_payload_truncation(hook: B24Hook, secret_guard: Any) -> None:
    big = {"result": ["y" * 400], "time": None}
    hook.set_restriction_manager_params({"max_retries": 1})
    script(hook, "v2", outcome(_core.OK, 200, big), outcome(_core.ERROR, 500, None, "ERR_BAD_RESPONSE", "x"))
    hook.actions.v2.call.make("m.get", {"s": "short"})
    with pytest.raises(AjaxError):
        hook.actions.v2.call.make("m.get")
    ctx = {r.getMessage(): r.b24 for r in secret_guard.records if r.name == CLIENT_LOGGER}  # type: ignore[attr-defined]
    assert ctx["post/send"]["params"] == "{}"
    assert ctx["post/catchError"]["response_data"] == "null" and ctx["post/catchError"]["status"] == 500
    resp = [r.b24 for r in secret_guard.records if r.getMessage() == "post/response"][0]  # type: ignore[attr-defined]
    assert resp["result"].endswith("...") and len(resp["result"]) == 103 and resp["time"] == "null"
    failed = ctx["http request failed"]
    assert failed["error"] == {"code": "ERR_BAD_RESPONSE", "message": "x", "status": 500}


def test_scripted_transport_gets_the_retry_policy(hook: B24Hook) -> None:
    """The scripted transport runs the C engine: retries, metrics, operating time."""
    hook.set_restriction_manager_params({"retry_delay": 10})
    t = script(hook, "v2", outcome(_core.ERROR, 500, None, "ERR_BAD_RESPONSE", "x"),
               outcome(_core.ERROR, 502, None, "ERR_BAD_RESPONSE", "y"),
               outcome(_core.OK, 200, {"result": 1, "time": {"operating": 0.5}}))
    assert hook.actions.v2.call.make("server.time").get_data()["result"] == 1
    assert len(t.calls) == 3
    stats = hook.get_http_client("v2").get_stats()
    assert stats["retries"] == 2 and stats["failed_requests"] == 2 and stats["successful_requests"] == 1
    assert stats["operating_stats"] == {"server.time": 0.5}


def test_ajax_result_type(hook: B24Hook) -> None:
    script(hook, "v2", outcome(_core.OK, 201, {"result": True}))
    res = hook.actions.v2.call.make("x.y")
    assert isinstance(res, AjaxResult) and res.get_status() == 201


def test_write_failed_before_send_is_retried_once_sent_is_not(hook: B24Hook) -> None:
    """The safe-write rule as the engine applies it (Decisions item 8)."""
    hook.set_restriction_manager_params({"retry_delay": 10})
    t = script(hook, "v2", outcome(_core.ERROR, 0, None, "NETWORK_ERROR", "refused", False),
               outcome(_core.OK, 200, {"result": 7}))
    assert hook.actions.v2.call.make("crm.item.add", {"fields": {}}).get_data()["result"] == 7
    assert len(t.calls) == 2
    t = script(hook, "v2", outcome(_core.ERROR, 0, None, "NETWORK_ERROR", "reset", True),
               outcome(_core.OK, 200, {"result": 8}))
    with pytest.raises(AjaxError) as info:
        hook.actions.v2.call.make("crm.item.add", {"fields": {}})
    assert info.value.maybe_committed is True and len(t.calls) == 1


def test_an_exhausted_script_says_so(hook: B24Hook) -> None:
    script(hook, "v2")
    with pytest.raises(RuntimeError, match="no scripted answer left"):
        hook.actions.v2.call.make("server.time")
