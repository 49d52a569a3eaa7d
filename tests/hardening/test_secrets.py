"""The secret never shows in the repr or text of client-side objects, nor in
the errors of failing calls (the suite-wide guard in tests/conftest.py checks
logs, errors, warnings and reports of every test; this walks the objects)."""
from __future__ import annotations

import traceback

import pytest

from b24hook import AjaxError, B24Hook, SdkError, _core

from . import _servers as S

URL = f"https://x.bitrix24.com/rest/1/{S.SECRET}"


def test_repr_of_every_client_object_is_secret_free():
    with B24Hook.from_webhook_url(URL) as b24:
        objs = [b24, b24.auth, b24.actions, b24.actions.v2, b24.actions.v3, b24.tools,
                b24.actions.v2.call, b24.actions.v2.batch, b24.actions.v2.call_list,
                b24.tools.ping, b24.get_http_client("v2"), b24.get_http_client("v3")]
        for o in objs:
            assert S.SECRET not in repr(o) and S.SECRET not in str(o), type(o)


@pytest.mark.parametrize("bad", [URL.replace("https", "http"), URL + "/extra/x",
                                 f"https://x/rest/abc/{S.SECRET}", f"ftp://x/rest/1/{S.SECRET}"])
def test_url_validation_errors_never_echo_the_url(bad):
    with pytest.raises(ValueError) as ei:
        B24Hook.from_webhook_url(bad)
    text = "".join(traceback.format_exception(ei.value))
    assert S.SECRET not in text


def test_network_failure_error_is_secret_free():
    # a closed port on 127.0.0.1: the libcurl text names the URL's host only
    with B24Hook.from_webhook_url(f"https://127.0.0.1:1/rest/1/{S.SECRET}", timeout=3,
                                  restriction_params={"max_retries": 1}) as b24:
        with pytest.raises(AjaxError) as ei:
            b24.actions.v2.call.make("crm.item.get", {"id": 1, "auth": "p4ss"})
    err = ei.value
    texts = [str(err), repr(err), err.to_string(), str(err.to_json()),
             # the messages of the whole chain (source lines would quote this test)
             "".join(traceback.format_exception(type(err), err, None)),
             str(getattr(err, "original_error", ""))]
    for t in texts:
        assert S.SECRET not in t and "p4ss" not in t


def test_closed_error_is_secret_free():
    b24 = B24Hook.from_webhook_url(URL)
    b24.close()
    with pytest.raises(SdkError) as ei:
        b24.actions.v2.call.make("m")
    assert S.SECRET not in repr(ei.value)


def test_core_scrub_helpers():
    assert S.SECRET not in _core.scrub_secret(f"GET {URL}/m failed", S.SECRET)
    assert "***REDACTED***" in _core.redact_url("crm.x?auth=abc&a=1")
