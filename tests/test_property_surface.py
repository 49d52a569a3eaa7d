"""A property test of the public surface (issue 9 item 11).

Hypothesis feeds random Python values (any nesting, types, sizes; huge ints,
NaN, lone surrogates, bytes, sets, arbitrary objects) to ``call.make``,
``batch.make``, ``fetch_list.make`` and the constructors against the emulator.
The only outcomes allowed are the documented ones: a result (successful or
failed), ``AjaxError``/``SdkError``, or a ``TypeError``/``ValueError`` naming
the parameter; and a call that raised before sending left no trace on the
portal (no request, no row).
"""
from __future__ import annotations

import datetime as dt
import decimal
import logging
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b24hook import AjaxError, B24Hook, SdkError

pytestmark = pytest.mark.timeout(240)

#: Errors that mean "refused before sending" and the words their message starts with.
_PRE_SEND = {TypeError, ValueError}
_PARAM_WORDS = ("method", "params", "request_id", "b24_url", "user_id", "secret", "timeout",
                "url", "Webhook", "webhook", "restriction_params", "calls", "batch", "command",
                "id_key", "custom_key_for_result", "select", "filter", "order")

_scalars = (
    st.none() | st.booleans()
    | st.integers() | st.sampled_from([2**63, -(2**63) - 1]) | st.builds(lambda: 10**5000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20) | st.sampled_from(["\ud800", "a\udfffb", "\x00", "😀", "x" * 5000])
    | st.binary(max_size=10)
    | st.sampled_from([object(), dt.datetime(2024, 1, 2, 3, 4, 5), dt.date(2024, 1, 2),
                       decimal.Decimal("1.5"), frozenset({1}), {1, 2}, complex(1, 2), Ellipsis])
)
_keys = st.text(max_size=8) | st.integers(-5, 5) | st.sampled_from(["\ud800", "", "a b"])
values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)

_SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def hook(portal: Any) -> Iterator[B24Hook]:
    client = B24Hook.from_webhook_url(
        portal.v2_url, verify=portal.ca_path, timeout=10,
        restriction_params={"rate_limit": {"burst_limit": 100000, "drain_rate": 100000},
                            "max_retries": 1})
    client.set_logger(logging.getLogger("b24hook.tests"))
    yield client
    client.close()


def _footprint(portal: Any) -> tuple[int, int]:
    s = portal.stats()
    return s["total"], sum(s["rows_created"].values())


def _check(portal: Any, before: tuple[int, int], run: Any) -> None:
    try:
        out = run()
    except AjaxError as exc:
        if exc.code == "JSSDK_INVALID_PARAMS":
            assert _footprint(portal) == before, f"refused params reached the portal: {exc.message}"
        return
    except SdkError:
        return
    except tuple(_PRE_SEND) as exc:
        assert _footprint(portal) == before, f"{type(exc).__name__} after sending: {exc}"
        assert str(exc).split(" ", 1)[0].strip(":'\"[") .startswith(_PARAM_WORDS) or \
            any(w in str(exc) for w in _PARAM_WORDS), f"message names no parameter: {exc}"
        return
    # any other exception type propagates and fails the test (RecursionError, KeyError, ...)
    if out is not None and hasattr(out, "is_success"):
        assert isinstance(out.is_success, bool)


@_SETTINGS
@given(value=values)
def test_call_make_with_any_params(hook: B24Hook, portal: Any, value: Any) -> None:
    before = _footprint(portal)
    _check(portal, before, lambda: hook.actions.v2.call.make(
        "crm.item.add", {"entityTypeId": 2, "fields": {"title": "property", "x": value}}))


@_SETTINGS
@given(params=values)
def test_call_make_with_any_params_object(hook: B24Hook, portal: Any, params: Any) -> None:
    before = _footprint(portal)
    _check(portal, before, lambda: hook.actions.v2.call.make("crm.item.add", params))


@_SETTINGS
@given(method=st.text(max_size=40) | st.sampled_from([".", "..", "a" * 300, "crm.item.\ud800"])
       | values, request_id=st.none() | st.text(max_size=300) | values)
def test_call_make_with_any_method_and_request_id(hook: B24Hook, portal: Any, method: Any,
                                                  request_id: Any) -> None:
    before = _footprint(portal)
    _check(portal, before, lambda: hook.actions.v2.call.make(method, {}, request_id))


@_SETTINGS
@given(value=values)
def test_batch_make_with_any_params(hook: B24Hook, portal: Any, value: Any) -> None:
    before = _footprint(portal)
    _check(portal, before, lambda: hook.actions.v2.batch.make(
        {"a": ["crm.item.add", {"entityTypeId": 2, "fields": {"title": "property", "x": value}}],
         "b": ["server.time", {}]}))


@_SETTINGS
@given(calls=values)
def test_batch_make_with_any_calls(hook: B24Hook, portal: Any, calls: Any) -> None:
    before = _footprint(portal)
    _check(portal, before, lambda: hook.actions.v2.batch.make(calls))


@_SETTINGS
@given(value=values)
def test_fetch_list_with_any_filter(hook: B24Hook, portal: Any, value: Any) -> None:
    before = _footprint(portal)

    def run() -> None:
        for _ in hook.actions.v2.fetch_list.make(
                "crm.item.list", {"entityTypeId": 2, "filter": {"title": value}},
                id_key="id", custom_key_for_result="items"):
            pass
    _check(portal, before, run)


@_SETTINGS
@given(b24_url=values | st.text(max_size=40), user_id=values, secret=values | st.text(max_size=40),
       timeout=values | st.floats())
def test_constructor_with_any_parts(portal: Any, b24_url: Any, user_id: Any, secret: Any,
                                    timeout: Any) -> None:
    before = _footprint(portal)
    try:
        B24Hook(b24_url, user_id, secret, timeout=timeout).close()
    except (TypeError, ValueError) as exc:
        assert any(w in str(exc) for w in _PARAM_WORDS), f"message names no parameter: {exc}"
    assert _footprint(portal) == before


@_SETTINGS
@given(url=values | st.text(max_size=80) | st.builds(
    lambda host, uid, sec, tail: f"https://{host}/rest/{uid}/{sec}{tail}",
    st.text(max_size=15), st.text(max_size=4), st.text(max_size=15), st.text(max_size=6)))
def test_from_webhook_url_with_anything(portal: Any, url: Any) -> None:
    try:
        B24Hook.from_webhook_url(url).close()
    except (TypeError, ValueError) as exc:
        assert "url" in str(exc).lower() or "webhook" in str(exc).lower() or \
            any(w in str(exc) for w in _PARAM_WORDS), f"message names no parameter: {exc}"
