"""call_list / fetch_list (v2, v3), call_tail / fetch_tail, aggregate against the emulator."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from b24hook import AjaxError, B24Hook, SdkError
from b24hook.emulator import EmulatorPortal

from _list_rows import counted_hook, requests_of, seeded_portal

ET = 1256  # a smart process: ids 1..130 in the table


@pytest.fixture(scope="module")
def lp() -> Iterator[EmulatorPortal]:
    with seeded_portal(ET, 130) as p:
        yield p


@pytest.fixture
def hook(lp: EmulatorPortal) -> Iterator[B24Hook]:
    with counted_hook(lp) as b:
        yield b


# size of the list -> requests of a v2 walk (§6.2: a short page ends, a full page asks again)
V2_CASES = [(0, 1), (30, 1), (100, 3), (130, 3)]
# v3 (§6.3): a single short page costs one confirmation request; exact multiples end on an empty page
V3_CASES = [(0, 1), (30, 2), (100, 3), (130, 3)]


@pytest.mark.parametrize("size,requests", V2_CASES)
def test_v2_call_list_and_fetch_list(hook: B24Hook, lp: EmulatorPortal, size: int, requests: int) -> None:
    params = {"entityTypeId": ET, "filter": {"<=id": size}, "select": ["id", "title"]}
    res = hook.actions.v2.call_list.make("crm.item.list", params, id_key="id", custom_key_for_result="items")
    assert res.is_success
    assert [r["id"] for r in res.get_data()] == list(range(1, size + 1))
    assert requests_of(lp, "crm.item.list") == requests
    lp.reset_stats()
    pages = list(hook.actions.v2.fetch_list.make("crm.item.list", params, id_key="id",
                                                 custom_key_for_result="items"))
    assert all(len(p) <= 50 for p in pages)
    assert [r["id"] for p in pages for r in p] == list(range(1, size + 1))
    assert requests_of(lp, "crm.item.list") == requests


def test_v2_legacy_list_string_ids(hook: B24Hook) -> None:
    hook_portal_rows = hook.actions.v2.call_list.make("crm.deal.list", {"select": ["ID"]})
    assert hook_portal_rows.is_success and hook_portal_rows.get_data() == []


def test_v2_callers_lower_bound_is_kept(hook: B24Hook) -> None:
    """[DIVERGE] JS overwrites the caller's >ID with its cursor; b24hook starts there."""
    params = {"entityTypeId": ET, "filter": {">id": 70}, "select": ["id"]}
    res = hook.actions.v2.call_list.make("crm.item.list", params, id_key="id", custom_key_for_result="items")
    assert [r["id"] for r in res.get_data()] == list(range(71, 131))


def test_v2_rows_without_numeric_id_stop_with_a_warning(hook: B24Hook, lp: EmulatorPortal) -> None:
    seen: list[tuple[str, Any]] = []

    class L:
        def __getattr__(self, name: str) -> Any:
            return lambda msg, ctx=None: seen.append((name, msg))

    hook.set_logger(L())
    params = {"entityTypeId": ET, "select": ["id", "title"]}
    res = hook.actions.v2.call_list.make("crm.item.list", params, id_key="title", cursor_id_key="id",
                                         custom_key_for_result="items")
    assert len(res.get_data()) == 50  # one page, then no request with a bad cursor
    assert requests_of(lp, "crm.item.list") == 1
    assert any(level == "warning" and "'title'" in msg for level, msg in seen)


def test_v2_missing_container_is_end_of_data(hook: B24Hook) -> None:
    res = hook.actions.v2.call_list.make("crm.item.list", {"entityTypeId": ET}, custom_key_for_result="nope")
    assert res.is_success and res.get_data() == []


def test_v2_failed_page(lp: EmulatorPortal) -> None:
    hook = B24Hook.from_webhook_url(lp.v2_url, verify=lp.ca_path,
                                    restriction_params={"soft_error_codes": ["NOT_FOUND"]})
    res = hook.actions.v2.call_list.make("crm.item.list", {"entityTypeId": 999}, id_key="id",
                                         custom_key_for_result="items")
    assert not res.is_success
    with pytest.raises(SdkError) as ei:
        list(hook.actions.v2.fetch_list.make("crm.item.list", {"entityTypeId": 999}, id_key="id",
                                             custom_key_for_result="items"))
    assert ei.value.code == "JSSDK_CORE_B24_FETCH_LIST_METHOD_API_V2"
    assert ei.value.message.startswith("API Error: ")


def test_progress_callback_and_bar(hook: B24Hook) -> None:
    calls: list[tuple[int, Any]] = []
    params = {"entityTypeId": ET, "select": ["id"]}
    hook.actions.v2.call_list.make("crm.item.list", params, id_key="id", custom_key_for_result="items",
                                   progress=lambda n, total: calls.append((n, total)))
    assert calls == [(50, None), (100, None), (130, None)]
    pytest.importorskip("tqdm")
    res = hook.actions.v2.call_list.make("crm.item.list", params, id_key="id",
                                         custom_key_for_result="items", progress=True)
    assert len(res.get_data()) == 130


def test_fetch_list_holds_one_page(hook: B24Hook) -> None:
    it = hook.actions.v2.fetch_list.make("crm.item.list", {"entityTypeId": ET}, id_key="id",
                                         custom_key_for_result="items")
    assert len(next(it)) == 50
    it.close()  # type: ignore[attr-defined]


# ---------------------------------------------------------------- v3
# spec §6.3 pins pagination {"page": 0, "limit": n} (what the JS SDK sends); the
# emulator reads page 0 as the first page.
@pytest.mark.parametrize("size,requests", V3_CASES)
def test_v3_call_list_and_fetch_list(hook: B24Hook, lp: EmulatorPortal, size: int, requests: int) -> None:
    params = {"entityTypeId": ET, "filter": [["id", "<=", size]], "select": ["id", "title"]}
    res = hook.actions.v3.call_list.make("crm.item.list", params, custom_key_for_result="items")
    assert res.is_success, res.get_error_messages()
    assert [r["id"] for r in res.get_data()] == list(range(1, size + 1))
    assert requests_of(lp, "crm.item.list") == requests
    pages = list(hook.actions.v3.fetch_list.make("crm.item.list", params, custom_key_for_result="items"))
    assert [r["id"] for p in pages for r in p] == list(range(1, size + 1))


def test_v3_list_needs_custom_key(hook: B24Hook, lp: EmulatorPortal) -> None:
    with pytest.raises(TypeError, match="custom_key_for_result"):
        hook.actions.v3.call_list.make("crm.item.list", {"entityTypeId": ET})
    with pytest.raises(TypeError, match="custom_key_for_result"):
        hook.actions.v3.fetch_list.make("crm.item.list", {"entityTypeId": ET})
    assert lp.stats()["total"] == 0


def test_v3_list_filter_must_be_a_list(hook: B24Hook) -> None:
    with pytest.raises(TypeError, match="list of conditions"):
        hook.actions.v3.call_list.make("crm.item.list", {"filter": {"id": 1}}, custom_key_for_result="items")


def test_tail_and_aggregate(hook: B24Hook, lp: EmulatorPortal) -> None:
    for i in range(120):
        lp.store.log_event("TEST", "main", i, 1)
    res = hook.actions.v3.call_tail.make("main.eventlog.tail", {"select": ["id"]})
    assert res.is_success, res.get_error_messages()
    ids = [r["id"] for r in res.get_data()]
    assert len(ids) >= 120 and ids == sorted(ids)
    pages = list(hook.actions.v3.fetch_tail.make("main.eventlog.tail", {"select": ["id"]}))
    assert [r["id"] for p in pages for r in p] == ids
    with pytest.raises(SdkError) as ei:
        hook.actions.v3.call_tail.make("main.eventlog.tail", order="desc")
    assert ei.value.code == "JSSDK_CORE_B24_CALL_TAIL_DESC_REQUIRES_INITIAL_VALUE"
    with pytest.raises(SdkError) as ei:
        next(hook.actions.v3.fetch_tail.make("main.eventlog.tail", order="DESC"))
    assert ei.value.code == "JSSDK_CORE_B24_FETCH_TAIL_DESC_REQUIRES_INITIAL_VALUE"
    agg = hook.actions.v3.aggregate.make("tasks.task.aggregate", {"count": ["id"]})
    assert agg.is_success, agg.get_error_messages()
    assert isinstance(agg.get_data(), dict)
    with pytest.raises(SdkError) as ei:
        hook.actions.v3.aggregate.make("crm.item.aggregate", {"median": ["id"]})
    assert ei.value.code == "JSSDK_AGGREGATE_V3_INVALID_FUNCTION"
    with pytest.raises(SdkError) as ei:
        hook.actions.v3.aggregate.make("crm.item.aggregate", {"sum": "id"})
    assert ei.value.code == "JSSDK_AGGREGATE_V3_INVALID_SELECT"


def test_deprecated_fetch_list_method(hook: B24Hook) -> None:
    with pytest.warns(DeprecationWarning):
        it = hook.fetch_list_method("crm.item.list", {"entityTypeId": ET}, id_key="id",
                                    custom_key_for_result="items")
    assert sum(len(p) for p in it) == 130


def test_v2_null_result_page_ends_the_walk_with_one_warning(hook: B24Hook, lp: EmulatorPortal) -> None:
    seen: list[tuple[str, str]] = []

    class L:
        def __getattr__(self, name: str) -> Any:
            return lambda msg, ctx=None: seen.append((name, msg))

    hook.set_logger(L())
    params = {"entityTypeId": ET, "select": ["id"]}
    try:
        walk = hook.actions.v2.fetch_list.make("crm.item.list", params, id_key="id",
                                               custom_key_for_result="items")
        first = next(walk)
        assert len(first) == 50
        lp.inject("null_result", method="crm.item.list")
        assert list(walk) == []  # page 2 is {"result": null, "time": ...}: the walk ends
        assert requests_of(lp, "crm.item.list") == 2
        lp.inject("null_result", method="crm.item.list")
        res = hook.actions.v2.call_list.make("crm.item.list", params, id_key="id")
        assert res.is_success and res.get_data() == []
        assert requests_of(lp, "crm.item.list") == 3
    finally:
        lp.clear_faults()
    warnings = [msg for level, msg in seen if level == "warning"]
    assert len(warnings) == 2 and all("no result" in m for m in warnings), warnings


def test_emulator_null_result_fault_keeps_the_envelope(lp: EmulatorPortal) -> None:
    import json
    import urllib.request
    import ssl

    lp.inject("null_result", method="server.time")
    try:
        ctx = ssl.create_default_context(cafile=lp.ca_path)
        req = urllib.request.Request(lp.v2_url + "/server.time.json", data=b"{}",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            body = json.loads(r.read())
    finally:
        lp.clear_faults()
    assert body["result"] is None and "time" in body
