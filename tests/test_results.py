"""Result / AjaxResult (spec §7)."""
from __future__ import annotations

import re
from typing import Any

import pytest

from b24hook import AjaxError, AjaxResult, Result, SdkError

Q = {"method": "crm.item.list", "params": {"entityTypeId": 2}, "request_id": "rid-1"}


def test_result_basics() -> None:
    r: Result[Any] = Result()
    assert r.is_success and r.get_data() is None
    assert r.set_data([1]) is r and r.get_data() == [1]
    assert Result.ok(5).get_data() == 5
    f = Result.fail("boom", "k")
    assert not f.is_success and f.get_error_messages() == ["boom"]
    assert isinstance(f.errors["k"], Exception)


def test_add_error_generated_key_and_overwrite_in_place() -> None:
    r: Result[Any] = Result()
    r.add_error("a")
    (key,) = r.errors
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", key)
    r.add_error(ValueError("b"), "x").add_error("c", "y")
    r.add_error("b2", "x")
    assert list(r.get_errors_by_key()) == [key, "x", "y"]
    assert r.get_error_messages_by_key()["x"] == "b2"
    assert r.get_error_messages() == ["a", "b2", "c"]
    assert r.has_error("x") and not r.has_error("z")
    r.add_errors(["d", RuntimeError("e")])
    assert len(r.errors) == 5
    assert [str(e) for e in r.get_errors()][-2:] == ["d", "e"]


def test_errors_view_is_read_only_and_snapshots_are_copies() -> None:
    r: Result[Any] = Result().add_error("a", "__proto__")
    with pytest.raises(TypeError):
        r.errors["b"] = Exception()  # type: ignore[index]
    snap = r.get_errors_by_key()
    snap["z"] = Exception()
    assert "z" not in r.errors and r.has_error("__proto__")


def test_error_messages_use_message_attribute() -> None:
    r: Result[Any] = Result().add_error(SdkError("C", 500, "sdk text"))
    assert r.get_error_messages() == ["sdk text"]


def test_to_string_formats() -> None:
    assert str(Result({"a": 1})) == 'Result(success): {\n  "a": 1\n}'
    assert Result().to_string() == "Result(success): null"
    f = Result([1]).add_error("x").add_error("y")
    assert f.to_string() == "Result(failure): [\n  1\n]\nErrors: x, y"
    assert str(Result({1, 2})) == "Result(success): [Unable to serialize data]"
    with_exc = str(Result({"e": ValueError("bad")}))
    assert '"name": "ValueError"' in with_exc and '"message": "bad"' in with_exc and '"stack"' in with_exc


def test_ajax_result_success() -> None:
    answer = {"result": [1], "time": {"start": 1.0}, "total": 5, "next": 1}
    r = AjaxResult(answer, Q, 200)
    assert r.is_success and r.get_status() == 200
    assert r.get_data() == {"result": [1], "time": {"start": 1.0}}
    assert r.get_data() is not r.get_data()
    assert r.get_query() == Q
    assert r.is_more() and r.has_more() and r.get_total() == 5
    with pytest.raises(TypeError, match="does not allow data modification"):
        r.set_data(1)


def test_ajax_result_query_is_frozen() -> None:
    params = {"filter": {"a": 1}}
    r = AjaxResult({"result": 1}, {"method": "m", "params": params, "request_id": "r"}, 200)
    params["filter"]["a"] = 2
    assert r.get_query()["params"] == {"filter": {"a": 1}}
    r.get_query()["params"]["filter"]["a"] = 3
    assert r.get_query()["params"] == {"filter": {"a": 1}}


def test_answer_without_time_or_not_a_dict() -> None:
    assert AjaxResult({"result": 1}, Q, 200).get_data() == {"result": 1, "time": None}
    assert AjaxResult({"openapi": "3.0"}, Q, 200).get_data() == {"result": None, "time": None}
    assert AjaxResult(["x"], Q, 200).get_data() == {"result": None, "time": None}


def _base(answer: Any, status: int = 200) -> AjaxError:
    r = AjaxResult(answer, Q, status)
    assert not r.is_success and r.get_data() is None
    err = r.errors["base-error"]
    assert isinstance(err, AjaxError) and err.status in (status, 403)
    return err


def test_v3_error_object_with_validation() -> None:
    err = _base({"error": {"code": "V", "message": "Validation failed  ",
                           "validation": [{"message": 'Field "id" required'}, {"field": "x"}]}})
    assert err.code == "V"
    assert err.message == 'Validation failed. Field "id" required{"field":"x"}'
    assert err.request_info == {"method": "crm.item.list", "params": {"entityTypeId": 2}, "request_id": "rid-1"}


def test_v3_error_validation_edge_cases() -> None:
    assert _base({"error": {"code": "V", "message": "Done.", "validation": [{"message": "a"}]}}).message == "Done. a"
    assert _base({"error": {"code": "V", "message": "", "validation": [{"message": "a"}]}}).message == "a"
    assert _base({"error": {"code": "V", "message": "m"}}).message == "m"


def test_v2_string_errors() -> None:
    err = _base({"error": "NOT_FOUND", "error_description": "Not found"}, 200)
    assert (err.code, err.message) == ("NOT_FOUND", "Not found")
    assert _base({"error": "X"}).message == "Some error in response"
    assert _base({"error": "X", "error_description": ""}).message == "X (on crm.item.list)"
    assert _base({"error": "0"}).code == "JSSDK_RESPONSE_ERROR"
    assert _base({"error": "AUTHORIZE_ERROR"}, 200).status == 403


@pytest.mark.parametrize("error", [None, "", {"message": "no code"}, 0, False])
def test_no_error_recorded(error: Any) -> None:
    assert AjaxResult({"error": error, "result": 1}, Q, 200).is_success


def test_failed_result_paging_helpers() -> None:
    r = AjaxResult({"error": "X", "next": 50, "total": 9}, Q, 200)
    assert not r.is_more() and r.get_total() == 0
    s = AjaxResult({"result": [], "next": "50", "total": "7"}, Q, 200)
    assert not s.is_more() and s.get_total() == 7


class _FakeHttp:
    def __init__(self, version: str) -> None:
        self.api_version = version
        self.calls: list[tuple[str, Any]] = []

    def call(self, method: str, params: Any, request_id: str | None = None) -> AjaxResult:
        self.calls.append((method, params))
        return AjaxResult({"result": ["p2"]}, {"method": method, "params": params, "request_id": "new"}, 200)


def test_get_next_and_fetch_next() -> None:
    first = AjaxResult({"result": ["p1"], "next": 50, "total": 60},
                       {"method": "crm.deal.list", "params": {"start": 0, "filter": {}}, "request_id": "r"}, 200)
    http = _FakeHttp("v2")
    nxt = first.get_next(http)  # type: ignore[arg-type]
    assert isinstance(nxt, AjaxResult) and nxt.get_data()["result"] == ["p2"]  # type: ignore[index]
    assert http.calls == [("crm.deal.list", {"start": 50, "filter": {}})]
    assert first.get_query()["params"] == {"start": 0, "filter": {}}
    assert nxt.get_next(http) is False  # type: ignore[arg-type]
    assert nxt.fetch_next(http) is None  # type: ignore[arg-type]


def test_get_next_on_v3_raises_first() -> None:
    r = AjaxResult({"error": "X"}, Q, 200)
    with pytest.raises(SdkError) as info:
        r.get_next(_FakeHttp("v3"))  # type: ignore[arg-type]
    assert info.value.code == "JSSDK_CORE_METHOD_NOT_SUPPORT_IN_API_V3" and info.value.status == 500


def test_ajax_result_str() -> None:
    r = AjaxResult({"result": 1, "time": None}, Q, 200)
    assert str(r) == 'Result(success): {\n  "result": 1,\n  "time": null\n}'
    f = AjaxResult({"error": "E", "error_description": "bad"}, Q, 400)
    assert str(f) == "Result(failure): null\nErrors: bad"
    assert "rid-1" not in repr(f)


# ---- one classification: the core's rules, never a Python re-read (issue 10 item 3)
def test_answer_error_uses_the_core_rules_for_the_edge_cases() -> None:
    # JS `error_description ?? "Some error in response"`: a null is absent
    assert _base({"error": "X", "error_description": None}).message == "Some error in response"
    # a non-string code or message reads as its JSON text, as on the wire
    assert _base({"error": {"code": True, "message": {"a": 1}}}).code == "true"
    assert _base({"error": {"code": 7, "message": {"a": 1}}}).message == '{"a":1}'
    assert _base({"error": "X", "error_description": [1, "b"]}).message == '[1,"b"]'


def test_answer_error_is_the_same_code_as_the_transports() -> None:
    from b24hook import _core

    err = _core.answer_error({"error": "NOT_FOUND", "error_description": "gone"}, Q, 404)
    assert isinstance(err, AjaxError) and (err.code, err.message, err.status) == ("NOT_FOUND", "gone", 404)
    assert err.request_info == Q
    assert _core.answer_error({"result": 1}, Q) is None
    assert _core.answer_error(["error"], Q) is None
    assert _core.answer_error({"error": {"code": "A", "message": "m  "}}).message == "m"  # type: ignore[union-attr]
    with pytest.raises(_core.ParamsError):
        _core.answer_error({"error": {"code": "A", "message": {1, 2}}})


def test_outcome_error_is_the_one_mapping_of_an_outcome() -> None:
    from b24hook import _core

    def oc(kind: int, code: str | None, maybe_sent: bool = False, detail: str | None = None) -> Any:
        return _core.Outcome((kind, 0 if kind == _core.ERROR else 200, {"error": "ANSWER_SAYS"},
                              code, "msg", maybe_sent, 1.0, detail, {}))

    assert _core.outcome_error(oc(_core.OK, None), Q) is None
    failed = _core.outcome_error(oc(_core.FAILED, "CORE_SAYS", True, "x"), Q, is_write=True)
    assert failed is not None and (failed.code, failed.status, failed.message) == ("CORE_SAYS", 200, "msg")
    assert failed.original_error is None and failed.maybe_committed is False
    net = _core.outcome_error(oc(_core.ERROR, "NETWORK_ERROR", True, "curl: reset"), Q, is_write=True)
    assert net is not None and net.maybe_committed is True and str(net.original_error) == "curl: reset"
    read = _core.outcome_error(oc(_core.ERROR, "NETWORK_ERROR", True), Q)
    assert read is not None and read.maybe_committed is False and read.original_error is None
    unknown = _core.outcome_error(oc(_core.ERROR, None), Q)
    assert unknown is not None and unknown.code == "JSSDK_UNKNOWN_ERROR"
    with pytest.raises(TypeError):
        _core.outcome_error((0, 200), Q)  # type: ignore[arg-type]


def test_a_call_result_takes_its_error_from_the_outcome_not_the_answer() -> None:
    from b24hook import _core

    outcome = _core.Outcome((_core.FAILED, 200, {"error": "ANSWER_SAYS"}, "CORE_SAYS", "core text",
                             False, 1.0, None, {}))
    res = AjaxResult._from_outcome(outcome, Q)
    err = res.errors["base-error"]
    assert isinstance(err, AjaxError) and (err.code, err.message) == ("CORE_SAYS", "core text")
    assert res.get_status() == 200 and res.get_data() is None


# ---------------------------------------------------- get_data_or_raise (issue 13 item 2)
def test_get_data_or_raise_success() -> None:
    r = AjaxResult({"result": {"item": {"id": 7}}, "time": {"duration": 0.5}}, Q, 200)
    data = r.get_data_or_raise()
    assert data == {"result": {"item": {"id": 7}}, "time": {"duration": 0.5}}
    assert data["result"]["item"]["id"] == 7
    assert data is not r.get_data_or_raise()  # a fresh dict, as get_data()
    assert Result([1, 2]).get_data_or_raise() == [1, 2]
    assert Result.ok().get_data_or_raise() is None
    assert Result.ok({"a": 1}).get_data_or_raise() == {"a": 1}
    # a bare document (no result, no time) is a success too
    assert AjaxResult({"openapi": "3.0"}, Q, 200).get_data_or_raise() == {"result": None, "time": None}


def test_get_data_or_raise_soft_failure_raises_the_ajax_error() -> None:
    r = AjaxResult({"error": "NOT_FOUND", "error_description": "Not found"}, Q, 200)
    held = r.errors["base-error"]
    with pytest.raises(AjaxError) as info:
        r.get_data_or_raise()
    assert info.value is held
    assert (info.value.code, info.value.status, info.value.message) == ("NOT_FOUND", 200, "Not found")
    assert info.value.request_info is not None and info.value.request_info["method"] == "crm.item.list"
    # raised again and again: the traceback starts at the caller each time, the
    # stored error does not pile up the frames of every earlier raise
    depths = []
    for _ in range(3):
        try:
            r.get_data_or_raise()
        except AjaxError as err:
            assert err is held
            depths.append(len(list(_tb_frames(err))))
    assert depths[0] == depths[1] == depths[2]


def _tb_frames(err: BaseException) -> Any:
    tb = err.__traceback__
    while tb is not None:
        yield tb.tb_frame
        tb = tb.tb_next


def test_get_data_or_raise_raises_the_first_of_several_errors() -> None:
    first, second = SdkError("FIRST", 400, "one"), AjaxError("SECOND", 500, "two")
    r = Result({"partial": 1}).add_error(first, "a").add_error(second, "b")
    with pytest.raises(SdkError) as info:
        r.get_data_or_raise()
    assert info.value is first
    assert r.get_data() == {"partial": 1}  # the data of a failed result stays readable


@pytest.mark.parametrize("error", ["boom", ValueError("boom")])
def test_get_data_or_raise_wraps_other_errors_in_sdk_error(error: Any) -> None:
    r: Result[list[int]] = Result([1]).add_error(error, "k")
    with pytest.raises(SdkError) as info:
        r.get_data_or_raise()
    err = info.value
    assert type(err) is SdkError
    assert (err.code, err.status, err.message) == ("JSSDK_INTERNAL_ERROR", 500, "boom")
    assert err.original_error is r.errors["k"]


def test_get_data_or_raise_against_the_emulator(portal: Any) -> None:
    from b24hook import B24Hook

    with B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path) as b24:
        # success: the Payload, typed, no None check
        added = b24.actions.v3.call.make("tasks.task.add", {"fields": {"title": "typed"}})
        task = added.get_data_or_raise()["result"]["item"]
        assert task["title"] == "typed"
        got = b24.actions.v3.call.make("tasks.task.get", {"id": task["id"]}).get_data_or_raise()
        assert got["result"]["item"]["id"] == task["id"]
        assert got["time"] is not None and "duration" in got["time"]
        # soft failure: returned by make(), raised by get_data_or_raise()
        soft = b24.actions.v3.call.make("tasks.task.get", {"id": 10**9})
        with pytest.raises(AjaxError) as info:
            soft.get_data_or_raise()
        assert info.value.code == "BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION"
        assert info.value is soft.errors["base-error"]
        # hard failure: make() itself raises the same error type, so one
        # `except AjaxError` around `make(...).get_data_or_raise()` handles both
        with pytest.raises(AjaxError) as hard:
            b24.actions.v2.call.make("crm.item.get", {"entityTypeId": 2, "id": 10**9}).get_data_or_raise()
        assert (hard.value.code, hard.value.status) == ("NOT_FOUND", 400)
        # a list result: the rows, or the failed page's error
        rows = b24.actions.v3.call_list.make("tasks.task.list", {"select": ["id"]},
                                            custom_key_for_result="items").get_data_or_raise()
        assert any(row["id"] == task["id"] for row in rows)
