"""b24hook._core: webhook URL validation (spec 2.1) and redaction (11.2)."""
from __future__ import annotations

import pytest

from b24hook import _core

EMPTY = "Webhook URL cannot be empty"
FORMAT = "Invalid webhook URL format"
HTTPS = "Webhook requires HTTPS protocol"
PATH = "Webhook URL must follow format: /rest/<userId>/<secret> or /rest/api/<userId>/<secret>"
UID = "User ID must be numeric in webhook URL"


@pytest.mark.parametrize(
    "url, want",
    [
        ("https://portal.bitrix24.com/rest/1/abc123/", ("https://portal.bitrix24.com", 1, "abc123")),
        ("https://x.com/rest/api/1/abc", ("https://x.com", 1, "abc")),
        ("\u3000 https://x.com/rest/1/abc \n", ("https://x.com", 1, "abc")),
        ("https://x.com//rest//1//x//", ("https://x.com", 1, "x")),
        ("https://x.com/rest/api/api/1/x", ("https://x.com", 1, "x")),
        ("https://x.com/rest/007/x", ("https://x.com", 7, "x")),
        ("https://x.com:443/rest/1/x", ("https://x.com", 1, "x")),
        ("https://127.0.0.1:9443/rest/1/x", ("https://127.0.0.1:9443", 1, "x")),
        ("https://x.com/rest/1/ab%20c", ("https://x.com", 1, "ab%20c")),
        ("https://PORTAL.Example.COM/rest/1/x", ("https://portal.example.com", 1, "x")),
        ("https://u:p@x.com/rest/1/x?q=1#f", ("https://x.com", 1, "x")),
    ],
)
def test_parse_ok(url, want):
    assert _core.parse_webhook_url(url) == want


@pytest.mark.parametrize(
    "url, msg",
    [
        ("", EMPTY),
        ("   ", EMPTY),
        ("rest/1/abc", FORMAT),
        ("https://", FORMAT),
        ("http://x.com/rest/1/abc", HTTPS),
        ("ftp://x.com/rest/1/abc", HTTPS),
        ("https://x.com/REST/1/abc", PATH),
        ("https://x.com/rest/1/abc/extra", PATH),
        ("https://x.com/rest/1/abc/crm.item.list.json", PATH),
        ("https://x.com/prefix/rest/1/abc", PATH),
        ("https://x.com/rest/-1/abc", UID),
        ("https://x.com/rest/1.5/abc", UID),
        ("https://x.com/rest/abc/supersecret", UID),
    ],
)
def test_parse_errors_never_echo(url, msg):
    with pytest.raises(ValueError) as ei:
        _core.parse_webhook_url(url)
    assert str(ei.value) == msg
    for part in ("abc", "supersecret", "x.com"):
        assert part not in str(ei.value)


def test_parse_type_error():
    with pytest.raises(TypeError):
        _core.parse_webhook_url(b"https://x.com/rest/1/x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _core.parse_webhook_url(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text, want",
    [
        ("crm.item.add?auth=X&fields[TITLE]=y", "crm.item.add?auth=***REDACTED***&fields[TITLE]=y"),
        ("foo=token=bar", "foo=token=bar"),
        ("SELECT * FROM t WHERE id=5", "SELECT * FROM t WHERE id=5"),
        ("auth[application_token]=abc", "auth[application_token]=abc"),
        ("?a=1;auth=x", "?a=1;auth=x"),
        ("x?a=1&PASSWORD=p;tail", "x?a=1&PASSWORD=***REDACTED***;tail"),
        ("no equals", "no equals"),
        ("?token=\u00e9\u00e9&b=\u20ac", "?token=***REDACTED***&b=\u20ac"),
    ],
)
def test_redact_url(text, want):
    assert _core.redact_url(text) == want


def test_redact_extra_keys_and_constants():
    assert _core.redact_url("?webhook=1&a=2", ["webhook"]) == "?webhook=***REDACTED***&a=2"
    assert _core.redact_url("?webhook=1", extra_keys=("WEBHOOK",)) == "?webhook=***REDACTED***"
    assert _core.REDACTED_PLACEHOLDER == "***REDACTED***"
    assert _core.SENSITIVE_PARAM_KEYS == (
        "auth", "password", "token", "secret", "access_token", "refresh_token",
        "client_secret", "application_token", "sessid", "key", "signature")


def test_scrub_secret():
    assert _core.scrub_secret("a s3c b s3c", "s3c") == "a ***REDACTED*** b ***REDACTED***"
    assert _core.scrub_secret("abc", "") == "abc"
    assert _core.scrub_secret("\u00e9x\u00e9", "x") == "\u00e9***REDACTED***\u00e9"


def test_module_constants():
    assert _core.OK == 0 and _core.FAILED == 1 and _core.ERROR == 2
    assert _core.CURL_VERSION.count(".") == 2
    assert _core.CJSON_VERSION.count(".") == 2
    assert isinstance(_core.__version__, str)
