"""Fidelity: the official Python SDK b24pysdk against the same emulator portal.

b24pysdk is driven through a webhook token (``BitrixWebhook(domain, "uid/secret")``
and its ``call_method``). It posts JSON to ``/rest/<uid>/<secret>/<method>.json``
for v2 and to ``/rest/api/<uid>/<secret>/<method>`` for the methods it knows as v3
(``prefer_version=3``), and uses ``requests`` (the emulator CA is trusted through
``REQUESTS_CA_BUNDLE``). Its successful answers must carry the same ``result``
payloads as b24hook's; its errors the same HTTP status and server error code.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

pytestmark = pytest.mark.fidelity

MISSING_ID = 10**9
ONE_SHOT_PY = {"max_retries": 1}


def pysdk_call(token: Any, method: str, params: dict[str, Any] | None = None, *, v3: bool = False) -> dict[str, Any]:
    """Call through b24pysdk; errors become {"thrown", "code", "status", "message"}."""
    from b24pysdk.errors import BitrixBaseAPIError

    try:
        body = token.call_method(method, params or {}, prefer_version=3 if v3 else 2, max_retries=1)
    except BitrixBaseAPIError as err:
        error = err.json_response.get("error")
        code = error.get("code") if isinstance(error, dict) else error
        return {"thrown": True, "code": code, "status": err.response.status_code, "message": str(err),
                "body": err.json_response}
    return {"ok": True, "body": body}


def b24hook_result(run_py, method: str, params: dict[str, Any] | None = None, *, v3: bool = False) -> Any:
    [out] = run_py([{"api": "v3" if v3 else "v2", "method": method, "params": params or {}}])
    assert out.get("ok") is True, f"b24hook: {method} did not succeed: {out}"
    return out["data"]


def assert_same_result(token, run_py, method, params=None, *, v3=False):
    got = pysdk_call(token, method, params, v3=v3)
    assert got.get("ok"), f"b24pysdk: {method} failed: {got}"
    expected = b24hook_result(run_py, method, params, v3=v3)
    assert got["body"]["result"] == expected["result"], f"{method}: result payloads differ"
    assert set(got["body"]["time"]) == set(expected["time"]), f"{method}: time keys differ"
    return got["body"]["result"]


def test_profile_and_user_current(pysdk, run_py):
    prof = assert_same_result(pysdk, run_py, "profile")
    user = assert_same_result(pysdk, run_py, "user.current")
    assert prof["ID"] == user["ID"]


def test_crm_item_get_and_list(pysdk, run_py, records):
    a, b = records["deal_ids"]
    item = assert_same_result(pysdk, run_py, "crm.item.get", {"entityTypeId": 2, "id": a})
    assert item["item"]["id"] == a
    listed = assert_same_result(pysdk, run_py, "crm.item.list", {
        "entityTypeId": 2, "select": ["id", "title", "opportunity"],
        "filter": {"@id": [a, b]}, "order": {"id": "ASC"}})
    assert [it["id"] for it in listed["items"]] == [a, b]


def test_list_envelope_has_total(pysdk, records):
    """b24pysdk sees the raw v2 list envelope: total next to result (b24hook's get_data() drops it)."""
    got = pysdk_call(pysdk, "crm.item.list", {"entityTypeId": 2, "filter": {"@id": records["deal_ids"]}})
    assert got.get("ok"), got
    assert got["body"]["total"] == 2
    assert "next" not in got["body"]


def test_legacy_crm_deal_get(pysdk, run_py, records):
    deal = assert_same_result(pysdk, run_py, "crm.deal.get", {"id": records["legacy_deal_id"]})
    assert deal["TITLE"] == "Fidelity legacy deal"


def test_server_time(pysdk, run_py):
    got = pysdk_call(pysdk, "server.time")
    assert got.get("ok"), got
    expected = b24hook_result(run_py, "server.time")
    t_sdk = datetime.fromisoformat(got["body"]["result"])
    t_hook = datetime.fromisoformat(expected["result"])
    assert t_sdk.tzinfo is not None and t_hook.tzinfo is not None
    assert abs((t_hook - t_sdk).total_seconds()) < 120


def test_v3_tasks_task_get(pysdk, run_py, records):
    from b24pysdk import Config

    assert Config().is_api_v3_method("tasks.task.get")  # so prefer_version=3 really goes to /rest/api/
    task = assert_same_result(pysdk, run_py, "tasks.task.get",
                              {"id": records["task_id"], "select": ["id", "title"]}, v3=True)
    assert task["item"]["title"] == "Fidelity task"


# ----------------------------------------------------------------------------- errors
# b24pysdk raises on every error answer; b24hook raises hard codes and returns soft
# ones. What must agree is the HTTP status and the server's error code.


def _py_error(run_py, method, params=None, *, v3=False, url=None):
    [out] = run_py([{"api": "v3" if v3 else "v2", "method": method, "params": params or {}}],
                   url=url, restriction_params=ONE_SHOT_PY)
    if out.get("thrown"):
        return out["code"], out["status"]
    assert out.get("ok") is False, out
    return out["codes"][0], out["status"]


@pytest.mark.parametrize(
    ("method", "params", "v3"),
    [
        ("no.such.method", {}, False),
        ("crm.item.get", {"entityTypeId": 2, "id": MISSING_ID}, False),
        ("tasks.task.get", {"id": MISSING_ID}, True),
    ],
    ids=["unknown-method", "crm-item-not-found", "v3-task-not-found"],
)
def test_errors_agree(pysdk, run_py, method, params, v3):
    got = pysdk_call(pysdk, method, params, v3=v3)
    assert got.get("thrown"), f"b24pysdk: {method} did not raise: {got}"
    assert (got["code"], got["status"]) == _py_error(run_py, method, params, v3=v3)


def test_wrong_secret(pysdk, run_py, portal):
    from b24pysdk import BitrixWebhook

    bad = BitrixWebhook(domain=pysdk.domain, webhook_token=f"{pysdk.user_id}/wrong{portal.secret[::-1]}")
    got = pysdk_call(bad, "profile")
    assert got.get("thrown"), got
    bad_url = portal.v2_url.rsplit("/", 1)[0] + "/wrong" + portal.secret[::-1]
    assert (got["code"], got["status"]) == _py_error(run_py, "profile", url=bad_url)


def test_v2_list_pages(pysdk, run_py, records):
    """Page by page, b24pysdk's raw envelope (result, next, total) matches b24hook's view."""
    ids = records["contact_ids"]
    base = {"entityTypeId": 3, "select": ["id", "name"], "filter": {"@id": ids}, "order": {"id": "ASC"}}
    for params, next_ in ((base, 50), ({**base, "start": 50}, None)):
        got = pysdk_call(pysdk, "crm.item.list", params)
        assert got.get("ok"), got
        [hook] = run_py([{"method": "crm.item.list", "params": params, "paging": True}])
        assert hook.get("ok"), hook
        assert got["body"]["result"] == hook["data"]["result"]
        assert got["body"]["total"] == hook["total"] == 55
        assert got["body"].get("next") == next_
        assert hook["more"] is (next_ is not None)
