"""The list walks' page loop (``_core.Walk`` over the core's ``b24_walk``) with a
scripted transport: the params of each page, the end reasons as log lines, a
failed page, and the Walk type itself (no network)."""
from __future__ import annotations

import gc
import logging
import sys
from typing import Any

import pytest

from b24hook import B24Hook, SdkError
from b24hook import _core
from tests.conftest import CLIENT_LOGGER, UNIT_SECRET


def ok(result: Any) -> Any:
    return _core.Outcome((_core.OK, 200, {"result": result, "time": {}}, None, None, False, 1.0, None, {}))


def rows(a: int, b: int, key: str = "ID") -> list[dict[str, Any]]:
    return [{key: i} for i in range(a, b + 1)]


@pytest.fixture
def hook() -> Any:
    h = B24Hook("x.bitrix24.com", 1, UNIT_SECRET)
    h.set_logger(logging.getLogger(CLIENT_LOGGER))
    yield h
    h.close()


def script(hook: B24Hook, version: str, *outcomes: Any) -> _core.Transport:
    t = _core.scripted_transport(*outcomes)
    hook.get_http_client(version)._transport = t
    return t


def sent(t: _core.Transport) -> list[Any]:
    assert t.calls is not None
    return [c["params"] for c in t.calls]


def test_v2_pages_carry_the_cursor(hook: B24Hook) -> None:
    t = script(hook, "v2", ok(rows(71, 120)), ok(rows(121, 130)))
    res = hook.actions.v2.call_list.make("crm.deal.list", {"select": ["ID"], "start": 5,
                                                           "filter": {">ID": "70x", "A": 1}})
    assert [r["ID"] for r in res.get_data()] == list(range(71, 131))
    assert sent(t) == [
        {"select": ["ID"], "start": -1, "order": {"ID": "ASC"}, "filter": {"A": 1, ">ID": 70}},
        {"select": ["ID"], "start": -1, "order": {"ID": "ASC"}, "filter": {"A": 1, ">ID": 120}},
    ]
    ids = [c["request_id"] for c in t.calls or []]
    assert len(set(ids)) == 2  # each page is a call of its own


def test_v3_pages_carry_the_cursor_and_confirm_a_short_page(hook: B24Hook) -> None:
    t = script(hook, "v3", ok({"items": rows(1, 30, "id")}), ok({"items": []}))
    res = hook.actions.v3.call_list.make("tasks.task.list", {"filter": [["a", "=", 1]]},
                                         custom_key_for_result="items", limit=40)
    assert len(res.get_data()) == 30
    assert sent(t) == [
        {"order": {"id": "ASC"}, "pagination": {"page": 0, "limit": 40},
         "filter": [["a", "=", 1], ["id", ">", 0]]},
        {"order": {"id": "ASC"}, "pagination": {"page": 0, "limit": 40},
         "filter": [["a", "=", 1], ["id", ">", 30]]},
    ]


def test_tail_pages_carry_the_native_cursor(hook: B24Hook) -> None:
    page1 = [{"id": 1, "ts": "2025-01-01"}, {"id": 2, "ts": "2025-01-02"}]
    t = script(hook, "v3", ok({"items": page1}), ok({"items": [{"id": 3, "ts": "2025-01-03"}]}))
    res = hook.actions.v3.call_tail.make("main.eventlog.tail", {"select": ["id"]}, cursor_field="ts",
                                         limit=2, initial_value="2024-12-31")
    assert len(res.get_data()) == 3
    assert sent(t) == [
        {"select": ["id", "ts"], "cursor": {"field": "ts", "value": "2024-12-31", "order": "ASC", "limit": 2}},
        {"select": ["id", "ts"], "cursor": {"field": "ts", "value": "2025-01-02", "order": "ASC", "limit": 2}},
    ]


def test_end_reasons_are_the_same_warnings(hook: B24Hook, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=CLIENT_LOGGER)
    script(hook, "v2", ok([{"ID": "x"}] * 50))
    assert len(hook.actions.v2.call_list.make("crm.deal.list").get_data()) == 50
    script(hook, "v2", ok(None))
    assert hook.actions.v2.call_list.make("crm.deal.list").get_data() == []
    script(hook, "v2", ok({"items": []}))
    assert hook.actions.v2.call_list.make("crm.deal.list").get_data() == []
    script(hook, "v2", ok({"items": 5}))
    assert hook.actions.v2.call_list.make("crm.deal.list", custom_key_for_result="items").get_data() == []
    script(hook, "v3", ok({"items": [{"x": 1}] * 50}))
    assert len(hook.actions.v3.call_tail.make("main.eventlog.tail").get_data()) == 50
    script(hook, "v3", ok({"nope": []}))
    assert hook.actions.v3.call_tail.make("main.eventlog.tail").get_data() == []
    text = [r.getMessage() for r in caplog.records]
    assert any("rows have no increasing integer 'ID'" in m for m in text), text
    assert any("carries no result (null)" in m for m in text), text
    assert any("the answer is not a list; pass custom_key_for_result" in m for m in text), text
    assert any("has no list under 'items'" in m for m in text), text
    assert any("the last row has no 'id'" in m for m in text), text
    assert len(text) == 5, text  # the v3 tail without its list ends quietly


def test_failed_page_ends_with_its_error(hook: B24Hook) -> None:
    bad = _core.Outcome((_core.FAILED, 200, {"error": "NOT_FOUND", "error_description": "gone"},
                         "NOT_FOUND", "gone", False, 1.0, None, {}))
    script(hook, "v2", ok(rows(1, 50)), bad)
    res = hook.actions.v2.call_list.make("crm.deal.list")
    assert not res.is_success and len(res.get_data()) == 50
    assert res.errors["base-error"].code == "NOT_FOUND"  # type: ignore[attr-defined]
    script(hook, "v2", ok(rows(1, 50)), bad)
    it = hook.actions.v2.fetch_list.make("crm.deal.list")
    assert len(next(it)) == 50
    with pytest.raises(SdkError) as ei:
        next(it)
    assert ei.value.code == "JSSDK_CORE_B24_FETCH_LIST_METHOD_API_V2"


def test_walk_type_items_and_refcounts(hook: B24Hook) -> None:
    http = hook.get_http_client("v2")
    page = rows(1, 50)

    def prepare(params: dict[str, Any]) -> tuple[_core.Transport, str, dict[str, Any]]:
        return http._transport, "rid", {"limiter": http.restriction.limiter}

    script(hook, "v2", ok(page), ok(rows(51, 60)))
    w = _core.Walk("v2", "crm.deal.list", {}, prepare, key="ID")
    assert iter(w) is w and w.cursor == 0 and w.pages == 0
    kind, first = next(w)
    assert kind == "page" and first == page and w.cursor == 50
    assert next(w)[0] == "page" and next(w) == ("end", None)
    with pytest.raises(StopIteration):
        next(w)
    with pytest.raises(ValueError):
        _core.Walk("v4", "m", {}, prepare, key="ID")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _core.Walk("v2", "m", {}, prepare, key="ID", filter=[])
    with pytest.raises(TypeError):
        _core.Walk("v3", "m", {}, prepare, key="id", filter={})
    with pytest.raises(TypeError):
        _core.Walk("v2", "m", {}, 5, key="ID")  # type: ignore[arg-type]

    def reenter(params: dict[str, Any]) -> Any:
        next(w2)

    w2 = _core.Walk("v2", "m", {}, reenter, key="ID")
    with pytest.raises(RuntimeError, match="already running"):
        next(w2)
    with pytest.raises(StopIteration):  # an error ends the walk
        next(w2)

    # many walks leave no references behind
    gc.collect()
    before = sys.gettotalrefcount() if hasattr(sys, "gettotalrefcount") else None
    for _ in range(100):
        http.reset()  # no rate-limiter waits between the rounds
        script(hook, "v2", ok(rows(1, 50)), ok(rows(51, 55)))
        assert len(hook.actions.v2.call_list.make("crm.deal.list").get_data()) == 55
    gc.collect()
    if before is not None:
        assert sys.gettotalrefcount() - before < 100


def test_the_step_interface_gives_the_items_iteration_gives(hook: B24Hook) -> None:
    """request()/feed() (the asyncio driver's sans-I/O steps): the same params, items
    and end reasons as the blocking iteration, and misuse refused."""
    bad = _core.Outcome((_core.FAILED, 200, {"error": "NOT_FOUND"}, "NOT_FOUND", "gone", False,
                         1.0, None, {}))
    scripts: list[tuple[str, dict[str, Any], list[Any]]] = [
        ("v2", {"key": "ID", "filter": {">ID": 7}}, [ok(rows(8, 57)), ok(rows(58, 60))]),
        ("v2", {"key": "ID"}, [ok(rows(1, 50)), ok(rows(51, 100)), ok([])]),
        ("v2", {"key": "ID", "id_key": "X"}, [ok(rows(1, 50))]),                     # no int id
        ("v2", {"key": "ID", "custom_key": "items"}, [ok({"other": []})]),           # no list
        ("v3", {"key": "id", "custom_key": "items", "limit": 2},
         [ok({"items": rows(1, 2, "id")}), ok({"items": rows(3, 3, "id")})]),
        ("tail", {"key": "id", "custom_key": "items", "limit": 2},
         [ok({"items": rows(1, 2, "id")}), ok({"items": [{"x": 1}, {"x": 2}]})]),   # no cursor
        ("v2", {"key": "ID"}, [ok(rows(1, 50)), bad]),                               # failed page
    ]
    http = hook.get_http_client("v2")
    for kind, kw, outcomes in scripts:
        t = _core.scripted_transport(*outcomes)
        http.reset()  # no rate-limiter waits between the rounds

        def prepare(params: dict[str, Any]) -> tuple[_core.Transport, str, dict[str, Any]]:
            return t, "rid", {"limiter": http.restriction.limiter}

        blocking = list(_core.Walk(kind, "m", {"s": 1}, prepare, **kw))  # type: ignore[arg-type]
        stepped: list[Any] = []
        sent: list[Any] = []
        w = _core.Walk(kind, "m", {"s": 1}, None, **kw)  # type: ignore[arg-type]
        feed = iter(outcomes)
        while (step := w.request()) is not None:
            if step[0] == "end":
                stepped.append(step)
                continue
            sent.append(step[1])
            stepped.append(w.feed(next(feed)))
        assert stepped == blocking, (kind, kw)
        assert sent == [c["params"] for c in t.calls or []]
        assert w.request() is None
    w = _core.Walk("v2", "m", {}, None, key="ID")
    with pytest.raises(TypeError, match="request"):
        next(w)
    with pytest.raises(RuntimeError, match="no page was requested"):
        w.feed(ok([]))
    assert w.request() is not None
    with pytest.raises(RuntimeError, match="due"):
        w.request()
    with pytest.raises(TypeError, match="Outcome"):
        w.feed({"result": []})  # type: ignore[arg-type]
    assert w.request() is None  # a refused feed ends the walk
