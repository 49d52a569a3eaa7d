"""SdkError / AjaxError (spec §8.1–8.2)."""
from __future__ import annotations

import pickle
from datetime import datetime, timezone

import pytest

from b24hook import AjaxError, SdkError
from tests.conftest import UNIT_SECRET


def test_sdk_error_fields_and_formats() -> None:
    err = SdkError(code="JSSDK_X", status=418, description="tea")
    assert (err.code, err.status, err.message) == ("JSSDK_X", 418, "tea")
    assert str(err) == "tea"
    assert err.to_string() == "[SdkError] JSSDK_X (418): tea"
    data = err.to_json()
    assert set(data) == {"name", "code", "message", "status", "timestamp"}
    assert data["name"] == "SdkError" and data["status"] == 418
    assert data["timestamp"].endswith("Z")
    assert isinstance(err.timestamp, datetime) and err.timestamp.tzinfo == timezone.utc
    assert "JSSDK_X" in repr(err)


def test_sdk_error_default_message_and_positional() -> None:
    assert SdkError("C", 500).message == "Internal error"
    assert SdkError("C", 500, "").message == "Internal error"


def test_status_is_read_only() -> None:
    err = SdkError(code="C", status=500)
    with pytest.raises(AttributeError):
        err.status = 200  # type: ignore[misc]


def test_original_error_hidden_everywhere() -> None:
    cause = RuntimeError(f"curl: https://x/rest/1/{UNIT_SECRET}/m failed")
    err = AjaxError(code="NETWORK_ERROR", status=0, description="Network connection failed",
                    original_error=cause, request_info={"method": "m", "params": {}, "request_id": "r"})
    assert err.original_error is cause
    for text in (str(err), repr(err), err.to_string(), repr(err.to_json()), repr(vars(err))):
        assert UNIT_SECRET not in text
    assert "original_error" not in vars(err)
    blob = pickle.dumps(err)
    assert UNIT_SECRET.encode() not in blob
    back = pickle.loads(blob)
    assert type(back) is AjaxError
    assert (back.code, back.status, back.message) == (err.code, err.status, err.message)
    assert back.request_info == err.request_info
    assert back.original_error is None
    assert back.timestamp == err.timestamp


def test_pickle_keeps_maybe_committed() -> None:
    err = AjaxError.create("REQUEST_TIMEOUT", 408, "Request timeout exceeded", maybe_committed=True)
    assert type(err) is AjaxError
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is AjaxError and back.maybe_committed is True
    assert back.to_string().startswith("[AjaxError] REQUEST_TIMEOUT (408)")


def test_ajax_error_request_info_redacted_in_constructor() -> None:
    params = {"auth": "abc", "fields": {"TITLE": "x", "password": "p"}}
    err = AjaxError(code="X", status=400, description="d",
                    request_info={"method": "crm.item.add", "params": params, "request_id": "rid"})
    assert err.request_info == {
        "method": "crm.item.add",
        "params": {"auth": "***REDACTED***", "fields": {"TITLE": "x", "password": "***REDACTED***"}},
        "request_id": "rid",
    }
    assert params["auth"] == "abc"  # caller's dict untouched
    assert err.to_string() == "[AjaxError] X (400): d\nRequest: [rid] crm.item.add"
    assert err.to_json()["request_info"] == err.request_info
    assert err.maybe_committed is False


@pytest.mark.parametrize("code", ["AUTHORIZE_ERROR", "WRONG_AUTH_TYPE"])
def test_403_forcing(code: str) -> None:
    assert AjaxError(code=code, status=401, description="x").status == 403
    assert AjaxError.create(code, 200).status == 403


def test_no_forcing_for_other_codes() -> None:
    assert AjaxError(code="ACCESS_DENIED", status=401).status == 401


def test_ajax_message_defaults() -> None:
    info = {"method": "crm.deal.get", "params": {}, "request_id": "r"}
    assert AjaxError(code="C", status=400, request_info=info).message == "C (on crm.deal.get)"
    assert AjaxError(code="C", status=400, description="", request_info=info).message == "C (on crm.deal.get)"
    assert AjaxError(code="C", status=400).message == "Internal ajax error"
    assert AjaxError(code="C", status=400).to_string() == "[AjaxError] C (400): Internal ajax error"


def test_from_exception() -> None:
    sdk = SdkError("A", 500)
    assert SdkError.from_exception(sdk) is sdk
    wrapped = SdkError.from_exception(ValueError("boom"))
    assert (wrapped.code, wrapped.status, wrapped.message) == ("JSSDK_INTERNAL_ERROR", 500, "boom")
    assert isinstance(wrapped.original_error, ValueError)
    ajax = AjaxError.from_exception(KeyError("k"), request_info={"method": "m", "params": None, "request_id": "r"})
    assert ajax.code == "JSSDK_INTERNAL_AJAX_ERROR" and ajax.status == 500
    again = AjaxError.from_exception(ajax)
    assert again is ajax
    custom = AjaxError.from_exception(OSError("x"), code="NETWORK_ERROR", status=0)
    assert custom.code == "NETWORK_ERROR" and custom.status == 0


def test_from_response() -> None:
    e = AjaxError.from_response(400, {"error": "INVALID_REQUEST", "error_description": "bad"},
                                {"method": "m", "params": {}, "request_id": "r"})
    assert (e.code, e.status, e.message) == ("INVALID_REQUEST", 400, "bad")
    e = AjaxError.from_response(500, None, None)
    assert e.code == "JSSDK_INTERNAL_AJAX_ERROR" and e.message == "Internal ajax error"
    e = AjaxError.from_response(400, {"error": {"code": "BITRIX_X", "message": "m"}})
    assert (e.code, e.message) == ("BITRIX_X", "m")


def test_errors_are_exceptions_and_catchable() -> None:
    with pytest.raises(SdkError):
        raise AjaxError.create("NETWORK_ERROR", 0)
    assert issubclass(AjaxError, SdkError) and issubclass(SdkError, Exception)
