"""batch and batch_by_chunk on v2 and v3 against the emulator; the bracket encoder."""
from __future__ import annotations

from typing import Iterator

import pytest

from b24hook import AjaxError, AjaxResult, B24Hook, BatchRefV3, SdkError, _core
from b24hook.emulator import EmulatorPortal

from _list_rows import counted_hook, requests_of, seeded_portal

ET = 1256


@pytest.fixture(scope="module")
def bp() -> Iterator[EmulatorPortal]:
    with seeded_portal(ET, 200) as p:
        yield p


@pytest.fixture
def hook(bp: EmulatorPortal) -> Iterator[B24Hook]:
    with counted_hook(bp) as b:
        yield b


def get(i: int) -> tuple[str, dict[str, int]]:
    return ("crm.item.get", {"entityTypeId": ET, "id": i})


MISSING = 10**6


# ---------------------------------------------------------------- encoder
def test_bracket_encoder_spec_example() -> None:
    params = {"filter": {">ID": 5, "=%TITLE": "A b&c"}, "select": ["id"]}
    assert _core.qs_encode(params) == (
        "filter%5B%3EID%5D=5&filter%5B%3D%25TITLE%5D=A%20b%26c&select%5B0%5D=id")
    assert _core.batch_command("server.time", {}) == "server.time?"
    assert _core.batch_command("m", {"a": None, "b": True, "c": False, "e": [], "f": {},
                                     "g": 1.0, "h": "é+$"}) == "m?a=&b=true&c=false&g=1&h=%C3%A9%2B%24"


def test_bracket_encoder_conversions() -> None:
    import datetime
    import decimal
    import enum

    class Color(enum.Enum):
        RED = "r"

    out = _core.qs_encode({"d": datetime.date(2025, 1, 2), "m": decimal.Decimal("1.50"), "e": Color.RED,
                           "t": (1, 2)})
    assert out == "d=2025-01-02&m=1.50&e=r&t%5B0%5D=1&t%5B1%5D=2"
    with pytest.raises(_core.ParamsError):
        _core.qs_encode({"x": object()})


# ---------------------------------------------------------------- v2 forms
def test_v2_array_tuple_and_dict_rows(hook: B24Hook, bp: EmulatorPortal) -> None:
    res = hook.actions.v2.batch.make([get(1), ["crm.item.get", {"entityTypeId": ET, "id": 2}],
                                      {"method": "crm.item.get", "params": {"entityTypeId": ET, "id": 3}},
                                      ["server.time"]])
    assert res.is_success
    data = res.get_data()
    assert [d["item"]["id"] for d in data[:3]] == [1, 2, 3] and isinstance(data[3], str)
    assert requests_of(bp, "batch") == 1


@pytest.mark.parametrize("halt", [True, False])
def test_v2_failures_with_and_without_halt(hook: B24Hook, halt: bool) -> None:
    res = hook.actions.v2.batch.make([get(1), get(MISSING), get(3)], is_halt_on_error=halt)
    assert not res.is_success
    assert list(res.errors) == ["1"]
    assert "Element not found" in res.get_error_messages()[0]
    ids = [d["item"]["id"] for d in res.get_data()]
    assert ids == ([1] if halt else [1, 3])
    full = hook.actions.v2.batch.make([get(1), get(MISSING), get(3)],
                                      {"is_halt_on_error": halt, "return_ajax_result": True})
    assert all(isinstance(r, AjaxResult) for r in full.get_data())
    assert len(full.get_data()) == (2 if halt else 3)
    assert not full.get_data()[1].is_success


def test_v2_named_with_references(hook: B24Hook) -> None:
    res = hook.actions.v2.batch.make({
        "page": ["crm.item.list", {"entityTypeId": ET, "filter": {">id": 10}, "select": ["id"]}],
        "one": ["crm.item.get", {"entityTypeId": ET, "id": "$result[page][items][0][id]"}],
        "bad": get(MISSING),
    }, is_halt_on_error=False)
    assert set(res.get_data()) == {"page", "one"}
    assert res.get_data()["one"]["item"]["id"] == 11
    assert list(res.errors) == ["bad"]


def test_v2_reference_to_failed_command_is_not_data(hook: B24Hook) -> None:
    res = hook.actions.v2.batch.make({
        "bad": get(MISSING),
        "next": ["crm.item.list", {"entityTypeId": ET, "filter": {">id": "$result[bad][item][id]"}}],
    }, is_halt_on_error=False)
    assert set(res.errors) == {"bad", "next"}
    assert res.errors["next"].code == "JSSDK_BATCH_REF_FAILED"
    assert "'next'" in res.errors["next"].message and "'bad'" in res.errors["next"].message
    assert res.get_data() == {}


def test_v2_bad_input_sends_nothing(hook: B24Hook, bp: EmulatorPortal) -> None:
    with pytest.raises(AjaxError) as ei:
        hook.actions.v2.batch.make([["server.time"]] * 51)
    assert ei.value.code == "JSSDK_BATCH_TOO_LARGE" and ei.value.status == 400
    assert ei.value.message == "Batch too large: 51 commands (max: 50)"
    with pytest.raises(AjaxError) as ei:
        hook.actions.v2.batch.make([])
    assert ei.value.code == "JSSDK_BATCH_EMPTY"
    with pytest.raises(SdkError) as ei:
        hook.actions.v2.batch.make([["server.time"], 42])
    assert ei.value.code == "JSSDK_INTERACTION_BATCH_ROW_FAIL" and "#1" in ei.value.message
    with pytest.raises(ValueError, match="#1"):
        hook.actions.v2.batch.make([{"method": "server.time", "as": "a"}, ["server.time"]])
    with pytest.raises(ValueError, match=r"#1 \(crm.item.get\).*\$result\[nope\]"):
        hook.actions.v2.batch.make([["server.time"], ("crm.item.get", {"id": "$result[nope][id]"})])
    with pytest.raises(TypeError):
        hook.actions.v2.batch.make([["server.time"]], {"is_halt_on_error": True}, request_id="x")
    assert bp.stats()["total"] == 0


def test_v2_batch_by_chunk_three_chunks(hook: B24Hook, bp: EmulatorPortal) -> None:
    calls = [get(i + 1 if i not in (3, 53, 103) else MISSING) for i in range(120)]
    res = hook.actions.v2.batch_by_chunk.make(calls, is_halt_on_error=False, request_id="chunked")
    assert list(res.errors) == ["3", "53", "103"]  # [DIVERGE] global positions
    assert len(res.get_data()) == 117
    assert requests_of(bp, "batch") == 3
    named = {f"n{i}": get(i + 1 if i not in (0, 60, 119) else MISSING) for i in range(120)}
    bp.reset_stats()
    res = hook.actions.v2.batch_by_chunk.make(named, {"is_halt_on_error": False})
    assert list(res.errors) == ["n0", "n60", "n119"]
    assert len(res.get_data()) == 117 and res.get_data()["n1"]["item"]["id"] == 2
    assert requests_of(bp, "batch") == 3
    empty = hook.actions.v2.batch_by_chunk.make([])
    assert empty.is_success and empty.get_data() == []


def test_deprecated_batch_shims(hook: B24Hook) -> None:
    with pytest.warns(DeprecationWarning):
        r = hook.call_batch([get(1)])
    assert r.get_data()[0]["item"]["id"] == 1
    with pytest.warns(DeprecationWarning):
        r = hook.call_batch_by_chunk([get(i) for i in range(1, 61)], False)
    assert len(r.get_data()) == 60


# ---------------------------------------------------------------- v3
def test_v3_batch_array_named_and_refs(hook: B24Hook, bp: EmulatorPortal) -> None:
    res = hook.actions.v3.batch.make([
        {"method": "crm.item.list", "params": {"entityTypeId": ET, "select": ["id"]}, "as": "page"},
        {"method": "crm.item.get", "params": {"entityTypeId": ET, "id": BatchRefV3.ref("page.items.0.id")}},
    ])
    assert res.is_success, res.get_error_messages()
    assert res.get_data()[1]["item"]["id"] == 1
    named = hook.actions.v3.batch.make({"a": ("crm.item.get", {"entityTypeId": ET, "id": 2}),
                                        "b": ("crm.item.get", {"entityTypeId": ET, "id": 3})},
                                       return_ajax_result=True)
    assert {k: v.get_data()["result"]["item"]["id"] for k, v in named.get_data().items()} == {"a": 2, "b": 3}


def test_v3_batch_all_or_nothing(hook: B24Hook) -> None:
    try:
        res = hook.actions.v3.batch.make([("crm.item.get", {"entityTypeId": ET, "id": 1}),
                                          ("crm.item.get", {"entityTypeId": ET, "id": MISSING})])
    except AjaxError:
        return  # a hard code raises (§6.6.3)
    assert not res.is_success and res.get_data() == []


def test_v3_batch_bad_reference(hook: B24Hook, bp: EmulatorPortal) -> None:
    with pytest.raises(ValueError, match="'nope'"):
        hook.actions.v3.batch.make([("crm.item.get", {"id": BatchRefV3.ref("nope.item.id")})])
    assert bp.stats()["total"] == 0


def test_v3_batch_by_chunk(hook: B24Hook, bp: EmulatorPortal) -> None:
    res = hook.actions.v3.batch_by_chunk.make([("crm.item.get", {"entityTypeId": ET, "id": i})
                                               for i in range(1, 121)])
    assert res.is_success and [d["item"]["id"] for d in res.get_data()] == list(range(1, 121))
    assert requests_of(bp, "batch") == 3


# ---------------------------------------------------------------- http.batch (transport level)
@pytest.mark.parametrize("version", ["v2", "v3"])
def test_http_batch_returns_the_unshaped_result(hook: B24Hook, bp: EmulatorPortal, version: str) -> None:
    http = hook.get_http_client(version)
    before = requests_of(bp, "batch")
    res = http.batch([get(1), get(2)], {"request_id": "rid-http-batch"})
    assert requests_of(bp, "batch") == before + 1
    assert res.is_success, res.get_error_messages()
    data = res.get_data()
    assert set(data) == {"result", "time"}
    subs = data["result"]
    assert list(subs) == ["0", "1"] and all(isinstance(r, AjaxResult) for r in subs.values())
    assert [subs[k].get_data()["result"]["item"]["id"] for k in ("0", "1")] == [1, 2]
    named = http.batch({"a": get(3)})
    assert named.get_data()["result"]["a"].get_data()["result"]["item"]["id"] == 3


def test_http_batch_halt_option_and_the_action_agree(hook: B24Hook) -> None:
    http = hook.get_http_client("v2")
    for halt in (True, False):
        raw = http.batch([get(1), get(MISSING), get(3)], {"is_halt_on_error": halt})
        shaped = hook.actions.v2.batch.make([get(1), get(MISSING), get(3)], is_halt_on_error=halt)
        assert list(raw.errors) == list(shaped.errors) == ["1"]
        ok = [r.get_data()["result"]["item"]["id"] for r in raw.get_data()["result"].values() if r.is_success]
        assert ok == [d["item"]["id"] for d in shaped.get_data()]


def test_http_batch_checks_like_the_action(hook: B24Hook, bp: EmulatorPortal) -> None:
    http = hook.get_http_client("v2")
    before = bp.stats()["total"]
    with pytest.raises(AjaxError) as ei:
        http.batch([["server.time"]] * 51)
    assert ei.value.code == "JSSDK_BATCH_TOO_LARGE"
    with pytest.raises(TypeError, match="nope"):
        http.batch([["server.time"]], {"nope": 1})
    assert bp.stats()["total"] == before
    hook.close()
    with pytest.raises(SdkError) as ei:
        http.batch([["server.time"]])
    assert ei.value.code == "JSSDK_CORE_B24_CLIENT_CLOSED"


def test_deprecated_shim_warning_carries_its_context(hook: B24Hook) -> None:
    with pytest.warns(DeprecationWarning) as rec:
        hook.call_method("server.time")
    w = rec[0].message
    assert isinstance(w, DeprecationWarning)
    assert (w.method, w.replacement, w.removal_version, w.code) == (  # type: ignore[attr-defined]
        "call_method", "actions.v2.call.make", "3.0.0", "JSSDK_CORE_DEPRECATED_METHOD")
    assert "3.0.0" in str(w) and "JSSDK_CORE_DEPRECATED_METHOD" in str(w)
