"""Input gets one family of errors, before any I/O (issue 9 items 2 and 5).

Every check that can refuse input runs before anything is sent: the emulator's
counters show no request and no row for a refused call, and after sending only
the documented outcomes exist (no RecursionError from code that runs after the
write has left). Messages name the parameter.
"""
from __future__ import annotations

import sys
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)

from b24hook import AjaxError, B24Hook


def _nest_dict(n: int) -> Any:
    v: Any = "x"
    for _ in range(n):
        v = {"a": v}
    return v


def _nest_list(n: int) -> Any:
    v: Any = "x"
    for _ in range(n):
        v = [v]
    return v


def _rows(portal: Any) -> int:
    return sum(portal.stats()["rows_created"].values())


def _add(title: str, extra: Any) -> dict[str, Any]:
    return {"entityTypeId": 2, "fields": {"title": title, "x": extra}}


@pytest.mark.parametrize("depth", [400, 505, 509])
@pytest.mark.parametrize("shape", ["dict", "list"])
def test_write_nested_near_the_cap_is_sent_and_answered(b24: B24Hook, portal: Any, depth: int,
                                                        shape: str) -> None:
    """Below the encoder's cap the write goes out and the caller gets its result:
    nothing that runs after the send (the result's query copy, log redaction)
    may raise RecursionError (today: the row is created and the caller gets one)."""
    x = _nest_dict(depth) if shape == "dict" else _nest_list(depth)
    rows0 = _rows(portal)
    res = b24.actions.v2.call.make("crm.item.add", _add("near the cap", x))
    assert res.is_success
    assert _rows(portal) - rows0 == 1
    assert res.get_query()["method"] == "crm.item.add"


def _cycle_list() -> Any:
    c: list[Any] = []
    c.append(c)
    return c


def _cycle_dict() -> Any:
    d: dict[str, Any] = {}
    d["self"] = {"back": d}
    return d


REFUSED_PARAMS = {
    "deeper than the cap (dict)": (lambda: _nest_dict(600), "params: nesting deeper than"),
    "deeper than the cap (list)": (lambda: _nest_list(5000), "params: nesting deeper than"),
    "a list cycle": (_cycle_list, "Parameters contain circular references"),
    "a dict cycle": (_cycle_dict, "Parameters contain circular references"),
    "an int over the digit limit": (lambda: 10 ** (sys.get_int_max_str_digits() + 10),
                                    "params: integer has more digits"),
    "a lone surrogate": (lambda: "\ud800", "params: string is not valid Unicode"),
    "an unsupported type": (lambda: object(), "params: "),
}


@pytest.mark.parametrize("case", sorted(REFUSED_PARAMS))
@pytest.mark.parametrize("surface", ["call", "batch", "fetch_list"])
def test_bad_params_are_refused_before_sending(b24: B24Hook, portal: Any, case: str, surface: str) -> None:
    make, text = REFUSED_PARAMS[case]
    x = make()
    before = portal.stats()["total"]
    rows0 = _rows(portal)
    with pytest.raises(AjaxError) as info:
        if surface == "call":
            b24.actions.v2.call.make("crm.item.add", _add("refused", x))
        elif surface == "batch":
            b24.actions.v2.batch.make({"a": ["crm.item.add", _add("refused", x)]})
        else:
            for _ in b24.actions.v2.fetch_list.make(
                    "crm.item.list", {"entityTypeId": 2, "filter": {"title": x}},
                    id_key="id", custom_key_for_result="items"):
                pass
    err = info.value
    assert err.code == "JSSDK_INVALID_PARAMS" and err.status == 400
    assert text.replace("params: ", "") in err.message
    assert "params" in err.message or "circular" in err.message
    if "cycle" not in case:
        assert "circular" not in err.message
    assert portal.stats()["total"] == before, "a refused call reached the portal"
    assert _rows(portal) == rows0


BAD_METHODS = {
    ".": "empty segment", "..": "empty segment", "crm..item.list": "empty segment",
    "crm.item.list.": "empty segment", "crm/../profile": "found '/'",
    "crm.item.\ud800": "found '\\ud800'", "a" * 1_000_000: "longer than 200",
    "server.time?x=1": "found '?'", "server time": "found ' '", "": "non-empty",
}


@pytest.mark.parametrize("method", sorted(BAD_METHODS), ids=lambda m: repr(m[:20]))
def test_bad_method_names_are_refused_before_sending(b24: B24Hook, portal: Any, method: str) -> None:
    before = portal.stats()["total"]
    with pytest.raises(ValueError) as info:
        b24.actions.v2.call.make(method, {})
    assert str(info.value).startswith("method ")
    assert BAD_METHODS[method] in str(info.value)
    assert portal.stats()["total"] == before


def test_method_of_the_wrong_type_is_a_type_error(b24: B24Hook, portal: Any) -> None:
    with pytest.raises(TypeError, match="^method must be a str"):
        b24.actions.v2.call.make(b"server.time", {})  # type: ignore[arg-type]


@pytest.mark.parametrize("rid,exc", [("\ud800", ValueError), ("x" * 1000, ValueError),
                                     ("a\nb", ValueError), (42, TypeError)])
def test_bad_request_ids_are_refused_before_sending(b24: B24Hook, portal: Any, rid: Any, exc: type) -> None:
    before = portal.stats()["total"]
    with pytest.raises(exc, match="^request_id "):
        b24.actions.v2.call.make("server.time", {}, rid)
    assert portal.stats()["total"] == before


@pytest.mark.parametrize("timeout", [1e16, float("inf"), float("nan"), -1, 0, 86401])
def test_timeouts_that_would_overflow_or_mean_nothing_are_refused(portal: Any, timeout: float) -> None:
    with pytest.raises(ValueError, match="^timeout "):
        B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path, timeout=timeout)


def test_the_largest_timeout_is_a_real_one(portal: Any) -> None:
    with B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path, timeout=86400) as b24:
        assert b24.actions.v2.call.make("server.time").is_success


@pytest.mark.parametrize("url,what", [
    ("example.bitrix24.com/rest", "a path"), ("https://example.bitrix24.com/x/", "a path"),
    ("user:pw@example.bitrix24.com", "userinfo"), ("example.bitrix24.com?a=1", "a query"),
    ("example.bitrix24.com#top", "a fragment"), ("example.bitrix24.com:99999", "invalid port"),
    ("exa mple.com", "spaces"), ("example.com\ud800", "lone surrogate"),
])
def test_b24_url_with_more_than_an_origin_is_refused(url: str, what: str) -> None:
    with pytest.raises(ValueError) as info:
        B24Hook(url, 1, "unit-test-secret-4f9a7c")
    assert str(info.value).startswith("b24_url ") and what in str(info.value)


@pytest.mark.parametrize("url", ["example.bitrix24.com", "https://example.bitrix24.com",
                                 "https://example.bitrix24.com:8443/", "127.0.0.1:1",
                                 "[::1]:8443", "портал.рф"])
def test_b24_url_origins_are_accepted(url: str) -> None:
    B24Hook(url, 1, "unit-test-secret-4f9a7c").close()
