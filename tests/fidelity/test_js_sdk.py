"""Fidelity: b24hook against the official JS SDK (@bitrix24/b24jssdk 2.1.0, B24Hook).

Every test sends the same calls through both clients to one emulator portal and
compares what the caller sees: the ``result`` payload of successful calls, and
for failures the code, HTTP status and message (thrown ``AjaxError``) or the
failed ``AjaxResult`` (soft errors). ``time`` differs per request by nature, so
only its key set is compared.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

pytestmark = pytest.mark.fidelity

# Retry budget for calls that are expected to fail: one attempt, no waits.
ONE_SHOT_JS = {"maxRetries": 1}
ONE_SHOT_PY = {"max_retries": 1}

MISSING_ID = 10**9


def both(run_js, run_py, ops, *, url=None, one_shot=False):
    """Run ops through the JS SDK and through b24hook; return (js, py) lists."""
    js = run_js(ops, url=url, restriction_params=ONE_SHOT_JS if one_shot else None)
    py = run_py(ops, url=url, restriction_params=ONE_SHOT_PY if one_shot else None)
    return js, py


def assert_same_success(js: dict[str, Any], py: dict[str, Any], what: str) -> None:
    assert js.get("ok") is True, f"JS SDK: {what} did not succeed: {js}"
    assert py.get("ok") is True, f"b24hook: {what} did not succeed: {py}"
    assert py["status"] == js["status"] == 200, what
    assert py["errors"] == js["errors"] == [], what
    assert set(py["data"]) == set(js["data"]) == {"result", "time"}, what
    assert py["data"]["result"] == js["data"]["result"], f"{what}: result payloads differ"
    assert isinstance(js["data"]["time"], dict), what
    assert set(py["data"]["time"]) == set(js["data"]["time"]), f"{what}: time keys differ"


def assert_same_thrown(js: dict[str, Any], py: dict[str, Any], what: str) -> None:
    assert js.get("thrown"), f"JS SDK: {what} did not throw: {js}"
    assert py.get("thrown"), f"b24hook: {what} did not raise: {py}"
    assert (py["code"], py["status"]) == (js["code"], js["status"]), f"{what}: code/status differ"
    assert py["message"] == js["message"], f"{what}: messages differ"
    assert py["name"] == js["name"] == "AjaxError", what


def assert_same_soft_failure(js: dict[str, Any], py: dict[str, Any], what: str) -> None:
    assert js.get("ok") is False, f"JS SDK: {what} did not return a failed result: {js}"
    assert py.get("ok") is False, f"b24hook: {what} did not return a failed result: {py}"
    assert py["data"] is None and js["data"] is None, what
    assert py["errors"] == js["errors"] and js["errors"], f"{what}: error messages differ"
    assert py["codes"] == js["codes"], f"{what}: error codes differ"
    assert py["status"] == js["status"], f"{what}: status differs"


# ----------------------------------------------------------------------------- successes


def test_profile_and_user_current(run_js, run_py):
    ops = [{"method": "profile"}, {"method": "user.current"}]
    js, py = both(run_js, run_py, ops)
    assert_same_success(js[0], py[0], "profile")
    assert_same_success(js[1], py[1], "user.current")
    assert js[0]["data"]["result"]["ID"] == js[1]["data"]["result"]["ID"]


def test_crm_item_get_and_list(run_js, run_py, records):
    a, b = records["deal_ids"]
    ops = [
        {"method": "crm.item.get", "params": {"entityTypeId": 2, "id": a}},
        {"method": "crm.item.get", "params": {"entityTypeId": 2, "id": b}},
        {"method": "crm.item.list", "params": {
            "entityTypeId": 2, "select": ["id", "title", "opportunity"],
            "filter": {"@id": [a, b]}, "order": {"id": "ASC"}}},
        {"method": "crm.item.list", "params": {"entityTypeId": 2, "filter": {"id": b}}},
    ]
    js, py = both(run_js, run_py, ops)
    for i, op in enumerate(ops):
        assert_same_success(js[i], py[i], f"{op['method']} #{i}")
    assert js[0]["data"]["result"]["item"]["title"] == "Fidelity deal A"
    assert js[1]["data"]["result"]["item"]["title"] == 'Fidelity deal B "quoted" <tag> & é'
    assert [it["id"] for it in js[2]["data"]["result"]["items"]] == [a, b]
    # getData() carries result and time only (no total/next) on both sides.
    assert js[3]["data"]["result"]["items"] == [js[1]["data"]["result"]["item"]]


def test_legacy_crm_deal_get(run_js, run_py, records):
    ops = [{"method": "crm.deal.get", "params": {"id": records["legacy_deal_id"]}}]
    js, py = both(run_js, run_py, ops)
    assert_same_success(js[0], py[0], "crm.deal.get")
    assert js[0]["data"]["result"]["TITLE"] == "Fidelity legacy deal"


def test_server_time(run_js, run_py):
    js, py = both(run_js, run_py, [{"method": "server.time"}])
    for who, out in (("JS SDK", js[0]), ("b24hook", py[0])):
        assert out.get("ok") is True, f"{who}: {out}"
        assert isinstance(out["data"]["result"], str), who
    t_js = datetime.fromisoformat(js[0]["data"]["result"])
    t_py = datetime.fromisoformat(py[0]["data"]["result"])
    assert t_js.tzinfo is not None and t_py.tzinfo is not None
    assert abs((t_py - t_js).total_seconds()) < 120
    assert abs((datetime.now(timezone.utc) - t_py).total_seconds()) < 120
    assert set(py[0]["data"]["time"]) == set(js[0]["data"]["time"])


def test_v3_tasks_task_get_and_list(run_js, run_py, records):
    ops = [{"api": "v3", "method": "tasks.task.get",
            "params": {"id": records["task_id"], "select": ["id", "title"]}},
           {"api": "v3", "method": "tasks.task.list",
            "params": {"select": ["id", "title"], "filter": [["id", "=", records["task_id"]]],
                       "order": {"id": "ASC"}, "pagination": {"limit": 10}}}]
    js, py = both(run_js, run_py, ops)
    assert_same_success(js[0], py[0], "v3 tasks.task.get")
    assert_same_success(js[1], py[1], "v3 tasks.task.list")
    assert js[0]["data"]["result"]["item"]["title"] == "Fidelity task"
    assert js[1]["data"]["result"]["items"] == [js[0]["data"]["result"]["item"]]


def test_v3_url_gives_same_client(run_js, run_py, portal, records):
    """fromWebhookUrl folds a /rest/api/ URL into the v2 shape: both versions still work."""
    ops = [{"method": "profile"},
           {"api": "v3", "method": "tasks.task.get", "params": {"id": records["task_id"], "select": ["id"]}}]
    js, py = both(run_js, run_py, ops, url=portal.v3_url)
    assert_same_success(js[0], py[0], "profile via v3 URL")
    assert_same_success(js[1], py[1], "v3 tasks.task.get via v3 URL")


# ----------------------------------------------------------------------------- errors


def test_unknown_method_404(run_js, run_py):
    js, py = both(run_js, run_py, [{"method": "no.such.method"}], one_shot=True)
    assert_same_thrown(js[0], py[0], "unknown v2 method")
    assert (js[0]["code"], js[0]["status"]) == ("ERROR_METHOD_NOT_FOUND", 404)


def test_unknown_v3_method_is_soft(run_js, run_py):
    js, py = both(run_js, run_py, [{"api": "v3", "method": "no.such.method"}], one_shot=True)
    assert_same_soft_failure(js[0], py[0], "unknown v3 method")
    assert js[0]["codes"] == ["BITRIX_REST_V3_EXCEPTION_METHODNOTFOUNDEXCEPTION"]


def test_crm_item_not_found(run_js, run_py):
    ops = [{"method": "crm.item.get", "params": {"entityTypeId": 2, "id": MISSING_ID}}]
    js, py = both(run_js, run_py, ops, one_shot=True)
    assert_same_thrown(js[0], py[0], "crm.item.get of a missing id")
    assert (js[0]["code"], js[0]["status"]) == ("NOT_FOUND", 400)


def test_legacy_deal_not_found(run_js, run_py):
    """crm.deal.get answers 400 {"error": "", ...}: an empty code is no code (ERR_BAD_REQUEST)."""
    ops = [{"method": "crm.deal.get", "params": {"id": MISSING_ID}}]
    js, py = both(run_js, run_py, ops, one_shot=True)
    assert_same_thrown(js[0], py[0], "crm.deal.get of a missing id")
    assert js[0]["status"] == 400


def test_v3_soft_error_entity_not_found(run_js, run_py):
    ops = [{"api": "v3", "method": "tasks.task.get", "params": {"id": MISSING_ID}}]
    js, py = both(run_js, run_py, ops, one_shot=True)
    assert_same_soft_failure(js[0], py[0], "v3 tasks.task.get of a missing id")
    assert js[0]["codes"] == ["BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION"]
    assert js[0]["status"] == 400


def test_v3_soft_error_validation(run_js, run_py):
    ops = [{"api": "v3", "method": "tasks.task.get", "params": {}}]
    js, py = both(run_js, run_py, ops, one_shot=True)
    assert_same_soft_failure(js[0], py[0], "v3 tasks.task.get without id")


def test_wrong_secret(run_js, run_py, portal):
    bad = portal.v2_url.rsplit("/", 1)[0] + "/wrong" + portal.secret[::-1]
    ops = [{"method": "profile"}, {"api": "v3", "method": "tasks.task.get", "params": {"id": 1}}]
    js, py = both(run_js, run_py, ops, url=bad, one_shot=True)
    assert_same_thrown(js[0], py[0], "v2 call with a wrong secret")
    assert js[0]["code"] in {"INVALID_CREDENTIALS", "NO_AUTH_FOUND"}
    assert js[0]["status"] in {401, 403}
    # v3 with a wrong secret: whatever the portal answers, both clients agree.
    for key in ("thrown", "ok", "code", "status", "message", "errors", "codes"):
        assert py[1].get(key) == js[1].get(key), f"v3 wrong secret: {key} differs: {js[1]} vs {py[1]}"


def test_js_sdk_installed_and_importable(js_sdk):
    """The session fixture installed the pinned SDK and Node imports its ESM entry."""
    assert js_sdk["version"] == "2.1.0"


def test_v2_list_pages(run_js, run_py, records):
    """Two pages of crm.item.list and crm.contact.list: same items, same getTotal()/isMore()."""
    ids = records["contact_ids"]
    base = {"entityTypeId": 3, "select": ["id", "name", "lastName"], "filter": {"@id": ids}, "order": {"id": "ASC"}}
    legacy = {"select": ["ID", "NAME", "LAST_NAME"], "filter": {"LAST_NAME": "Fidelity"}, "order": {"ID": "ASC"}}
    ops = [
        {"method": "crm.item.list", "params": base, "paging": True},
        {"method": "crm.item.list", "params": {**base, "start": 50}, "paging": True},
        {"method": "crm.contact.list", "params": legacy, "paging": True},
        {"method": "crm.contact.list", "params": {**legacy, "start": 50}, "paging": True},
    ]
    js, py = both(run_js, run_py, ops)
    for i, op in enumerate(ops):
        assert_same_success(js[i], py[i], f"{op['method']} page {i % 2 + 1}")
        assert (py[i]["total"], py[i]["more"]) == (js[i]["total"], js[i]["more"]), f"op {i}: total/more differ"
    assert (js[0]["total"], js[0]["more"], js[1]["more"]) == (55, True, False)
    got = [it["id"] for it in js[0]["data"]["result"]["items"] + js[1]["data"]["result"]["items"]]
    assert got == ids
    assert len(js[2]["data"]["result"]) + len(js[3]["data"]["result"]) == 55


def test_missing_parameter_code_100(run_js, run_py):
    """Controller binding error: 400 {"error": "100", "error_description": "Could not find value ..."}."""
    ops = [{"method": "crm.item.get", "params": {"id": 1}}]
    js, py = both(run_js, run_py, ops, one_shot=True)
    assert_same_thrown(js[0], py[0], "crm.item.get without entityTypeId")
    assert (js[0]["code"], js[0]["status"]) == ("100", 400)
