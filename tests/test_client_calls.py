"""Integration: single calls against the emulator portal over HTTPS."""
from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import pytest

from b24hook import AjaxError, AjaxResult, ApiVersion, B24Hook, SdkError
from tests.conftest import CLIENT_LOGGER


def ok_data(res: AjaxResult) -> Any:
    assert isinstance(res, AjaxResult)
    assert res.is_success, res.get_error_messages()
    assert res.get_status() == 200
    return res.get_data()["result"]


# ------------------------------------------------------------------ v2 calls
def test_server_time(b24: B24Hook) -> None:
    res = b24.actions.v2.call.make(method="server.time")
    assert isinstance(ok_data(res), str)
    data = res.get_data()
    assert isinstance(data["time"], dict) and "duration" in data["time"]
    q = res.get_query()
    assert q["method"] == "server.time" and q["params"] == {} and len(q["request_id"]) == 36


def test_profile_and_user_current(b24: B24Hook, portal: Any) -> None:
    prof = ok_data(b24.actions.v2.call.make("profile"))
    assert int(prof["ID"]) == portal.user_id
    user = ok_data(b24.actions.v2.call.make("user.current"))
    assert int(user["ID"]) == portal.user_id


def test_request_id_is_echoed(b24: B24Hook) -> None:
    res = b24.actions.v2.call.make("server.time", request_id="my-request-1")
    assert res.get_query()["request_id"] == "my-request-1"


def test_crm_item_add_get_list(b24: B24Hook) -> None:
    added = ok_data(b24.actions.v2.call.make(
        "crm.item.add", {"entityTypeId": 2, "fields": {"title": "Integration deal", "opportunity": 10.5}}))
    item_id = added["item"]["id"]
    got = ok_data(b24.actions.v2.call.make("crm.item.get", {"entityTypeId": 2, "id": item_id}))
    assert got["item"]["title"] == "Integration deal"
    listed = ok_data(b24.actions.v2.call.make(
        "crm.item.list", {"entityTypeId": 2, "select": ["id", "title"], "filter": {"=id": item_id}}))
    assert [i["id"] for i in listed["items"]] == [item_id]


def test_legacy_crm_deal_add_get(b24: B24Hook) -> None:
    new_id = ok_data(b24.actions.v2.call.make("crm.deal.add", {"fields": {"TITLE": "Legacy deal"}}))
    deal = ok_data(b24.actions.v2.call.make("crm.deal.get", {"ID": new_id}))
    assert deal["TITLE"] == "Legacy deal" and int(deal["ID"]) == int(new_id)


def test_params_conversions_are_sent(b24: B24Hook) -> None:
    import datetime
    import decimal
    res = b24.actions.v2.call.make("crm.item.add", {"entityTypeId": 2, "fields": {
        "title": ("Tuple", "title")[0], "opportunity": decimal.Decimal("12.50"),
        "beginDate": datetime.date(2024, 1, 2)}})
    assert ok_data(res)["item"]["id"]


# ------------------------------------------------------------------ v3 calls
def test_v3_tasks_add_get(b24: B24Hook) -> None:
    task = ok_data(b24.actions.v3.call.make("tasks.task.add", {"fields": {"title": "V3 task"}}))["item"]
    got = ok_data(b24.actions.v3.call.make("tasks.task.get", {"id": task["id"]}))
    assert got["item"]["title"] == "V3 task"


def test_v3_unknown_method_is_a_soft_failure(b24: B24Hook) -> None:
    res = b24.actions.v3.call.make("no.such.method", {})
    assert not res.is_success and res.get_data() is None
    err = res.errors["base-error"]
    assert isinstance(err, AjaxError)
    assert err.code == "BITRIX_REST_V3_EXCEPTION_METHODNOTFOUNDEXCEPTION"
    assert res.get_status() == err.status


def test_v3_entity_not_found_is_a_soft_failure(b24: B24Hook) -> None:
    res = b24.actions.v3.call.make("tasks.task.get", {"id": 10**9})
    assert not res.is_success
    err = res.errors["base-error"]
    assert err.code == "BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION"  # type: ignore[attr-defined]
    assert "not found" in res.get_error_messages()[0]


# ------------------------------------------------------------------ hard errors
def test_hard_error_not_found(b24: B24Hook, portal: Any) -> None:
    with pytest.raises(AjaxError) as info:
        b24.actions.v2.call.make("crm.item.get", {"entityTypeId": 2, "id": 10**9, "auth": "leak-me"})
    err = info.value
    assert (err.code, err.status) == ("NOT_FOUND", 400)
    assert err.request_info is not None
    assert err.request_info["method"] == "crm.item.get"
    assert err.request_info["params"] == {"entityTypeId": 2, "id": 10**9, "auth": "***REDACTED***"}
    assert len(err.request_info["request_id"]) == 36
    for text in (str(err), repr(err), err.to_string(), repr(err.to_json())):
        assert portal.secret not in text and "/rest/" not in text
    assert err.__cause__ is None and err.__suppress_context__
    assert err.maybe_committed is False


def test_unknown_v2_method(b24: B24Hook) -> None:
    with pytest.raises(AjaxError) as info:
        b24.actions.v2.call.make("no.such.method")
    assert (info.value.code, info.value.status) == ("ERROR_METHOD_NOT_FOUND", 404)


def test_wrong_secret(portal: Any) -> None:
    with B24Hook(portal.origin, portal.user_id, "wrong-secret-123", verify=portal.ca_path) as hook:
        hook.set_logger(logging.getLogger(CLIENT_LOGGER))
        with pytest.raises(AjaxError) as info:
            hook.actions.v2.call.make("server.time")
    err = info.value
    assert err.status in (401, 403)
    assert err.code in ("NO_AUTH_FOUND", "INVALID_CREDENTIALS", "AUTHORIZE_ERROR", "WRONG_AUTH_TYPE")
    assert "wrong-secret-123" not in err.to_string() + repr(err.to_json())


def test_http_url_and_bad_user_id_rejected(portal: Any) -> None:
    with pytest.raises(ValueError, match="HTTPS"):
        B24Hook.from_webhook_url(portal.v2_url.replace("https://", "http://"))
    bad = portal.v2_url.replace(f"/rest/{portal.user_id}/", "/rest/abc/")
    with pytest.raises(ValueError) as info:
        B24Hook.from_webhook_url(bad)
    assert str(info.value) == "User ID must be numeric in webhook URL"
    assert portal.secret not in str(info.value)


def test_v3_url_is_accepted(portal: Any) -> None:
    with B24Hook.from_webhook_url(portal.v3_url, verify=portal.ca_path) as hook:
        assert hook.get_target_origin() == portal.origin
        assert hook.actions.v2.call.make("server.time").is_success


# ------------------------------------------------------------------ faults
def test_html_error_page(b24: B24Hook, portal: Any) -> None:
    b24.set_restriction_manager_params({"max_retries": 1})  # retried otherwise (tests/test_faults.py)
    portal.inject("html", method="server.time", status=502)
    with pytest.raises(AjaxError) as info:
        b24.actions.v2.call.make("server.time")
    assert info.value.code == "ERR_BAD_RESPONSE" and info.value.status == 502
    assert info.value.message == "Request failed with status code 502"


def test_non_json_2xx(b24: B24Hook, portal: Any) -> None:
    portal.inject("non_json", method="server.time")
    with pytest.raises(AjaxError) as info:
        b24.actions.v2.call.make("server.time")
    assert info.value.code == "ERROR_UNEXPECTED_ANSWER" and 200 <= info.value.status < 300


def test_answer_without_time_is_a_success(b24: B24Hook, portal: Any) -> None:
    portal.inject("no_time", method="server.time")
    res = b24.actions.v2.call.make("server.time")
    assert res.is_success and res.get_data()["time"] is None and res.get_data()["result"]


def test_timeout_against_a_hanging_answer(portal: Any) -> None:
    portal.inject("hang", method="server.time", delay=5)
    with B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path, timeout=1,
                                  restriction_params={"max_retries": 1}) as hook:
        hook.set_logger(logging.getLogger(CLIENT_LOGGER))
        start = time.monotonic()
        with pytest.raises(AjaxError) as info:
            hook.actions.v2.call.make("server.time")
        elapsed = time.monotonic() - start
    assert (info.value.code, info.value.status) == ("REQUEST_TIMEOUT", 408)
    assert info.value.message == "Request timeout exceeded"
    assert info.value.maybe_committed is False  # a read
    assert elapsed < 2.5
    portal.clear_faults()


def test_timeout_of_a_write_is_maybe_committed(portal: Any) -> None:
    portal.inject("hang", method="crm.item.add", delay=5)
    with B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path, timeout=1) as hook:
        with pytest.raises(AjaxError) as info:
            hook.actions.v2.call.make("crm.item.add", {"entityTypeId": 2, "fields": {"title": "t"}})
    assert info.value.code == "REQUEST_TIMEOUT" and info.value.maybe_committed is True
    portal.clear_faults()


# ------------------------------------------------------------------ tools
def test_health_check_and_ping(b24: B24Hook) -> None:
    assert b24.tools.health_check.make() is True
    ms = b24.tools.ping.make()
    assert isinstance(ms, int) and 0 <= ms < 5000


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_health_check_false_and_ping_minus_one_on_closed_port() -> None:
    with B24Hook(f"127.0.0.1:{_closed_port()}", 1, "some-secret-x", timeout=2) as hook:
        assert hook.tools.health_check.make() is False
        assert hook.tools.ping.make() == -1
        with pytest.raises(AjaxError) as info:
            hook.actions.v2.call.make("server.time")
        assert (info.value.code, info.value.status) == ("NETWORK_ERROR", 0)
        assert info.value.message == "Network connection failed"
        assert info.value.maybe_committed is False


# ------------------------------------------------------------------ lifetime, stats, logs
def test_closed_client_raises(portal: Any) -> None:
    hook = B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path)
    assert hook.actions.v2.call.make("server.time").is_success
    hook.close()
    with pytest.raises(SdkError, match="closed"):
        hook.actions.v2.call.make("server.time")


def test_with_block_closes(portal: Any) -> None:
    with B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path) as hook:
        assert hook.actions.v3.call.make("tasks.task.add", {"fields": {"title": "w"}}).is_success
    assert hook.closed
    with pytest.raises(SdkError):
        hook.actions.v3.call.make("tasks.task.list")


def test_stats_count_requests(b24: B24Hook) -> None:
    http = b24.get_http_client("v2")
    http.reset()
    b24.actions.v2.call.make("server.time")
    with pytest.raises(AjaxError):
        b24.actions.v2.call.make("no.such.method")
    stats = http.get_stats()
    assert (stats["total_requests"], stats["successful_requests"], stats["failed_requests"]) == (2, 1, 1)
    assert stats["by_method"]["server.time"]["count"] == 1
    assert stats["error_counts"] == {"no.such.method": 1}
    assert stats["last_errors"][0]["method"] == "no.such.method" and stats["total_duration"] > 0
    assert b24.get_http_client(ApiVersion.V3).get_stats()["total_requests"] == 0


def test_log_events_are_redacted(b24: B24Hook, secret_guard: Any) -> None:
    b24.actions.v2.call.make("crm.item.add", {"entityTypeId": 2, "fields": {"title": "x" * 500},
                                              "auth": "do-not-log-me"})
    records = [r for r in secret_guard.records if r.name == CLIENT_LOGGER]
    names = [r.getMessage() for r in records]
    for event in ("http request starting", "http request attempt", "post/send", "post/response",
                  "http request successful"):
        assert event in names
    send = next(r for r in records if r.getMessage() == "post/send").b24
    assert send["params"].endswith("...") and len(send["params"]) == 103
    start = next(r for r in records if r.getMessage() == "http request starting").b24
    assert start["params"]["auth"] == "***REDACTED***" and start["api"] == "v2"
    assert all("do-not-log-me" not in repr(r.b24) for r in records)


def test_failure_log_events(b24: B24Hook, secret_guard: Any) -> None:
    with pytest.raises(AjaxError):
        b24.actions.v2.call.make("no.such.method")
    names = [r.getMessage() for r in secret_guard.records if r.name == CLIENT_LOGGER]
    assert "post/catchError" in names and "http request failed" in names


def test_raising_logger_does_not_break_calls(b24: B24Hook) -> None:
    class Broken:
        def __getattr__(self, name: str) -> Any:
            def boom(*a: Any, **k: Any) -> None:
                raise RuntimeError("logger down")
            return boom

    b24.set_logger(Broken())
    assert b24.actions.v2.call.make("server.time").is_success


def test_deprecated_call_method(b24: B24Hook) -> None:
    with pytest.warns(DeprecationWarning):
        res = b24.call_method("crm.item.list", {"entityTypeId": 2}, start=0)
    assert res.is_success and res.get_query()["params"]["start"] == 0


def test_deprecated_call_list_method(b24: B24Hook) -> None:
    for i in range(3):
        b24.actions.v2.call.make("crm.deal.add", {"fields": {"TITLE": f"paged {i}"}})
    seen: list[int] = []
    with pytest.warns(DeprecationWarning):
        res = b24.call_list_method("crm.deal.list", {"select": ["ID"]}, progress=seen.append)
    assert res.is_success and len(res.get_data()) >= 3
    assert seen[0] == 0 and seen[-1] == 100


# ------------------------------------------------------------------ threads
@pytest.mark.slow
def test_threads_share_one_instance(b24: B24Hook) -> None:
    errors: list[BaseException] = []
    ok = [0] * 8

    def work(n: int) -> None:
        try:
            for _ in range(200):
                if b24.actions.v2.call.make("server.time").is_success:
                    ok[n] += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    b24.set_logger(None)
    # 1600 calls: above the default 2 req/s budget (the limiter is tested in tests/test_limits.py)
    b24.set_restriction_manager_params({"rate_limit": {"burst_limit": 100000, "drain_rate": 100000}})
    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and ok == [200] * 8
    stats = b24.get_http_client("v2").get_stats()
    assert stats["successful_requests"] >= 1600
