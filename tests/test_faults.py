"""Fault matrix: each fault kind × read/write × v2/v3 ends in the documented
outcome (docs/limits.md), within the timeout; writes are never duplicated."""
from __future__ import annotations

import logging
import time
from typing import Any, Iterator

import pytest

from b24hook import AjaxError, B24Hook
from tests.conftest import CLIENT_LOGGER

TIMEOUT = 1.5  # client seconds; "hang" answers after 2.5 s

CALLS = {
    ("v2", "read"): ("crm.item.list", {"entityTypeId": 2, "select": ["id"]}),
    ("v2", "write"): ("crm.item.add", {"entityTypeId": 2, "fields": {"title": "fault matrix"}}),
    ("v3", "read"): ("tasks.task.list", {"select": ["id"]}),
    ("v3", "write"): ("tasks.task.add", {"fields": {"title": "fault matrix"}}),
}

OK = "ok"
# kind -> (read outcome, v2 write outcome, v3 write outcome); a code = AjaxError raised
EXPECTED = {
    "latency": (OK, OK, OK),
    # §8.3 decision (issue 9 item 7): a read is retried like any 5xx; a v2 write is not
    # re-sent (raised, maybe_committed); a v3 write is re-sent under its Idempotency-Key
    "error500": (OK, "INTERNAL_SERVER_ERROR", OK),
    "html": (OK, OK, OK),
    "non_json": ("ERROR_UNEXPECTED_ANSWER", "ERROR_UNEXPECTED_ANSWER", "ERROR_UNEXPECTED_ANSWER"),
    "reset_before": (OK, "NETWORK_ERROR", OK),
    "reset_after": (OK, "NETWORK_ERROR", OK),
    "truncate": (OK, "NETWORK_ERROR", OK),
    "hang": (OK, "REQUEST_TIMEOUT", OK),
}
# rows created by one write call, where the fault leaves no doubt
ROWS = {"latency": 1, "error500": 0, "html": 1, "non_json": 0, "reset_before": 0,
        "reset_after": 1, "truncate": 1}


@pytest.fixture(scope="module")
def fportal() -> Iterator[Any]:
    from b24hook.emulator import EmulatorPortal

    p = EmulatorPortal(db=":memory:", seed_demo=0).start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture(autouse=True)
def _settled(fportal: Any) -> Iterator[None]:
    """Each test starts on an idle portal: a request held by an earlier test's
    ``hang`` fault (answered after the client gave up) must not complete, or be
    replayed, inside the next test's counters."""
    assert fportal.wait_idle(10), "the portal is still busy with an earlier test"
    yield


def _rows(portal: Any) -> int:
    return sum(portal.stats()["rows_created"].values())


def _hook(portal: Any, **params: Any) -> B24Hook:
    hook = B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path, timeout=TIMEOUT,
                                    restriction_params={"retry_delay": 20, **params})
    hook.set_logger(logging.getLogger(CLIENT_LOGGER))
    return hook


@pytest.mark.parametrize("kind", sorted(EXPECTED))
@pytest.mark.parametrize("version", ["v2", "v3"])
@pytest.mark.parametrize("verb", ["read", "write"])
def test_fault_matrix(fportal: Any, kind: str, version: str, verb: str) -> None:
    method, params = CALLS[(version, verb)]
    read_exp, v2w_exp, v3w_exp = EXPECTED[kind]
    expected = read_exp if verb == "read" else (v2w_exp if version == "v2" else v3w_exp)
    delay = {"latency": 0.2, "hang": 2.5}.get(kind)
    fportal.clear_faults()
    fportal.inject(kind, method=method, count=1, delay=delay)
    rows0 = _rows(fportal)
    with _hook(fportal) as hook:
        start = time.monotonic()
        if expected == OK:
            res = getattr(hook.actions, version).call.make(method, params)
            assert res.is_success, res.get_error_messages()
        else:
            with pytest.raises(AjaxError) as info:
                getattr(hook.actions, version).call.make(method, params)
            assert info.value.code == expected
            assert info.value.maybe_committed is (verb == "write")
        elapsed = time.monotonic() - start
        stats = hook.get_http_client(version).get_stats()
    assert elapsed < 3 * TIMEOUT + 2           # never a hang
    if verb == "write" and kind in ROWS:
        want = 1 if expected == OK else ROWS[kind]
        assert _rows(fportal) - rows0 == want
    if expected == OK and kind not in ("latency",):
        assert stats["retries"] == 1
    fportal.clear_faults()


def test_reset_after_an_add_creates_exactly_one_row_by_default(fportal: Any) -> None:
    method, params = CALLS[("v2", "write")]
    fportal.clear_faults()
    fportal.inject("reset_after", method=method, count=1)
    rows0 = _rows(fportal)
    with _hook(fportal) as hook:
        with pytest.raises(AjaxError) as info:
            hook.actions.v2.call.make(method, params)
    assert info.value.code == "NETWORK_ERROR" and info.value.maybe_committed
    assert _rows(fportal) - rows0 == 1


def test_always_restores_the_js_behaviour_a_duplicate(fportal: Any) -> None:
    method, params = CALLS[("v2", "write")]
    fportal.clear_faults()
    fportal.inject("reset_after", method=method, count=1)
    rows0 = _rows(fportal)
    with _hook(fportal, retry_on_network_error="always") as hook:
        assert hook.actions.v2.call.make(method, params).is_success
    assert _rows(fportal) - rows0 == 2


def test_v3_write_retry_reuses_its_idempotency_key(fportal: Any) -> None:
    method, params = CALLS[("v3", "write")]
    fportal.clear_faults()
    fportal.inject("reset_after", method=method, count=1)
    rows0, replays0 = _rows(fportal), fportal.stats()["idempotent_replays"]
    with _hook(fportal) as hook:
        assert hook.actions.v3.call.make(method, params).is_success
    assert _rows(fportal) - rows0 == 1
    assert fportal.stats()["idempotent_replays"] == replays0 + 1


def test_pre_send_failure_of_a_write_is_retried(fportal: Any) -> None:
    """Connection refused: the request never left, so a write is retried."""
    with B24Hook("127.0.0.1:1", 1, "refused-secret-1",
                 restriction_params={"retry_delay": 20}) as hook:
        with pytest.raises(AjaxError) as info:
            hook.actions.v2.call.make("crm.item.add", {"fields": {}})
        assert info.value.code == "NETWORK_ERROR" and not info.value.maybe_committed
        assert hook.get_http_client("v2").get_stats()["total_requests"] == 3


def test_network_errors_not_retried_when_switched_off(fportal: Any) -> None:
    method, params = CALLS[("v2", "read")]
    fportal.clear_faults()
    fportal.inject("reset_before", method=method, count=1)
    with _hook(fportal, retry_on_network_error=False) as hook:
        with pytest.raises(AjaxError) as info:
            hook.actions.v2.call.make(method, params)
        assert info.value.code == "NETWORK_ERROR"
        assert hook.get_http_client("v2").get_stats()["total_requests"] == 1
    fportal.clear_faults()
