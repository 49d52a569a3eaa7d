"""``batch`` (v2 §7, v3 §8.5) and REST 3.0 lists (pagination, tail,
aggregate, §8.4) of the emulator portal, driven with the standard library."""
from __future__ import annotations

import http.client
import json
import ssl
import sys
import types
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path("/work/shared/fixtures/real-responses")

try:
    from b24hook.emulator import EmulatorPortal
except ImportError:  # pragma: no cover - only while b24hook._core is not built
    for _k in [k for k in sys.modules if k == "b24hook" or k.startswith("b24hook.")]:
        del sys.modules[_k]
    _pkg = types.ModuleType("b24hook")
    _pkg.__path__ = [str(ROOT / "b24hook")]
    sys.modules["b24hook"] = _pkg
    from b24hook.emulator import EmulatorPortal

from b24hook.emulator.batch import substitute  # noqa: E402

V3 = "BITRIX_REST_V3_EXCEPTION_"


class Client:
    def __init__(self, portal: EmulatorPortal, uid: int | None = None, secret: str | None = None):
        self.portal = portal
        self.uid = uid or portal.user_id
        self.secret = secret or portal.secret
        ctx = ssl.create_default_context(cafile=portal.ca_path)
        self.conn = http.client.HTTPSConnection("127.0.0.1", portal.port, context=ctx, timeout=10)

    def post(self, path: str, body: bytes, ctype: str) -> tuple[int, dict]:
        self.conn.request("POST", path, body=body, headers={"Content-Type": ctype})
        r = self.conn.getresponse()
        return r.status, json.loads(r.read())

    def v2(self, method: str, params: dict | None = None):
        return self.post(f"/rest/{self.uid}/{self.secret}/{method}", json.dumps(params or {}).encode(),
                         "application/json")

    def form(self, method: str, qs: str):
        return self.post(f"/rest/{self.uid}/{self.secret}/{method}", qs.encode(),
                         "application/x-www-form-urlencoded")

    def v3(self, method: str, params=None):
        return self.post(f"/rest/api/{self.uid}/{self.secret}/{method}",
                         json.dumps(params if params is not None else {}).encode(), "application/json")

    def batch(self, cmd, halt=None):
        body = {"cmd": cmd}
        if halt is not None:
            body["halt"] = halt
        st, b = self.v2("batch", body)
        assert st == 200
        return b["result"]

    def close(self):
        self.conn.close()


@pytest.fixture(scope="module")
def emu():
    p = EmulatorPortal(seed_demo=1200).start()
    yield p
    p.stop()


@pytest.fixture
def c(emu):
    cl = Client(emu)
    yield cl
    cl.close()


def q(**kw) -> str:
    return urllib.parse.urlencode(kw)


# ================================================================ v2 batch

def test_list_form_and_php_shapes(c):
    r = c.batch(["server.time", "crm.deal.list?select[]=ID&start=-1", "crm.deal.list?select[]=ID"])
    assert isinstance(r["result"], list) and len(r["result"]) == 3
    assert r["result_error"] == [] and isinstance(r["result_time"], list)
    # classic lists answer total 0 for start=-1 (§6.1), so key 1 has a total too
    assert r["result_total"] == {"1": 0, "2": 240} and r["result_next"] == {"2": 50}
    assert len(r["result"][1]) == 50 and set(r["result"][1][0]) == {"ID"}
    for t in r["result_time"]:
        assert {"start", "finish", "duration", "processing", "date_start", "date_finish",
                "operating_reset_at", "operating"} <= set(t)


def test_named_form_and_empty_list_like_the_fixture(c):
    st, body = c.v2("batch", {"cmd": {"order0000000000": "crm.deal.list?filter[ID]=-5"}})
    fixture = json.loads((FIXTURES / "batch_list_empty.json").read_text())["response"]
    assert st == 200 and set(body) == {"result", "time"}
    for key in ("result", "result_error", "result_total", "result_next"):
        assert body["result"][key] == fixture["result"][key]
    assert set(body["result"]["result_time"]) == set(fixture["result"]["result_time"])


def test_numeric_names_listify_like_the_fixture(c):
    """crm_get_batch_mix_success_and_errors: keys 0 and 1 fail, "35943" works."""
    new = c.v2("crm.deal.add", {"fields": {"TITLE": "mix"}})[1]["result"]
    r = c.batch({"0": "crm.deal.get?ID=0", "1": "crm.deal.get?ID=99999999", str(new): f"crm.deal.get?ID={new}"})
    fixture = json.loads((FIXTURES / "crm_get_batch_mix_success_and_errors.json").read_text())["response"]["result"]
    assert r["result_error"] == fixture["result_error"]          # a two-element list
    assert list(r["result"]) == [str(new)] and r["result"][str(new)]["ID"] == str(new)
    assert r["result_total"] == [] and r["result_next"] == [] and list(r["result_time"]) == [str(new)]
    # all failed: every map is []
    r = c.batch(["crm.deal.get?ID=0", "crm.deal.get?ID=99999999"])
    two = json.loads((FIXTURES / "crm_get_batch_of_two_error.json").read_text())["response"]["result"]
    assert r == {k: two[k] for k in two}


def test_halt_php_truthiness(c):
    cmd = {"a": "server.time", "b": "no.such.method", "c": "server.time"}
    r = c.batch(cmd, halt=0)
    assert set(r["result"]) == {"a", "c"}
    assert r["result_error"] == {"b": {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}}
    r = c.batch(cmd, halt=1)
    assert set(r["result"]) == {"a"} and set(r["result_error"]) == {"b"} and set(r["result_time"]) == {"a"}
    for halt, stops in (("0", False), (False, False), ("1", True), (True, True), ("", False)):
        assert ("c" not in c.batch(cmd, halt=halt)["result"]) == stops, halt
    # form body: "false" is a non-empty string, so it halts; upper-case names work
    form = "&".join(f"CMD[{k}]={urllib.parse.quote(v)}" for k, v in cmd.items())
    st, b = c.form("batch", form + "&HALT=false")
    assert st == 200 and set(b["result"]["result"]) == {"a"}
    st, b = c.form("batch", form + "&Halt=0")
    assert st == 200 and set(b["result"]["result"]) == {"a", "c"}


def test_51_commands(c):
    r = c.batch(["server.time"] * 51)
    assert isinstance(r["result"], list) and len(r["result"]) == 50
    assert r["result_error"] == {"50": {"error": "ERROR_BATCH_LENGTH_EXCEEDED",
                                        "error_description": "Max batch length exceeded"}}


def test_nested_batch_and_scope_per_command(c, emu):
    r = c.batch({"n": "batch?" + q(**{"cmd[x]": "server.time"}), "t": "server.time"})
    assert r["result_error"] == {"n": {"error": "ERROR_BATCH_METHOD_NOT_ALLOWED",
                                       "error_description": "Method is not allowed for batch usage"}}
    assert set(r["result"]) == {"t"}
    emu.add_webhook(5, "crmonly", scopes=("crm",))
    cl = Client(emu, 5, "crmonly")
    st, b = cl.v2("batch", {"cmd": {"d": "crm.deal.list?start=-1", "t": "tasks.task.list"}})
    assert st == 200 and set(b["result"]["result"]) == {"d"}
    assert b["result"]["result_error"]["t"]["error"] == "insufficient_scope"
    cl.close()


def test_commands_run_in_order_with_result_references(c):
    r = c.batch({
        "add": "crm.deal.add?" + q(**{"fields[TITLE]": "Ref deal", "fields[OPPORTUNITY]": "12.5"}),
        "get": "crm.deal.get?ID=$result[add]",
        "copy": "crm.deal.add?" + q(**{"fields[TITLE]": "Copy of $result[get][TITLE]"}),
        "check": "crm.deal.get?ID=$result[copy]",
    })
    assert r["result_error"] == []
    assert r["result"]["get"]["ID"] == str(r["result"]["add"])
    assert r["result"]["check"]["TITLE"] == "Copy of Ref deal"


def test_list_next_total_time_error_references(c):
    r = c.batch({
        "first": "crm.deal.list?" + q(**{"select[]": "ID", "order[ID]": "ASC"}),
        "second": "crm.deal.list?" + q(**{"select[]": "ID", "order[ID]": "ASC", "start": "$next[first]"}),
        "one": "crm.deal.get?ID=$result[first][0][ID]",
        "bad": "crm.deal.get?ID=0",
        "t": "crm.deal.add?" + q(**{"fields[TITLE]": "total $total[first] err $error[bad][error_description]",
                                    "fields[COMMENTS]": "$error[bad][error_description]"}),
        "tt": "crm.deal.get?ID=$result[t]",
    })
    res = r["result"]
    assert res["second"][0]["ID"] == str(int(res["first"][49]["ID"]) + 1)   # page 2 via $next
    assert res["one"]["ID"] == res["first"][0]["ID"]
    total = r["result_total"]["first"]
    # embedded: a number goes in (str_replace); "ID is not defined…" has spaces, so the
    # \S* regex stops inside it and the embedded reference is text after the first word
    assert res["tt"]["TITLE"].startswith(f"total {total} err ")
    assert res["tt"]["COMMENTS"] == "ID is not defined or invalid."    # whole value: as is


def test_references_to_failed_commands(c):
    r = c.batch({
        "bad": "crm.deal.get?ID=99999999",
        "ok": "server.time",
        "add": "crm.deal.add?" + q(**{"fields[TITLE]": "T $result[bad][ID]"}),
        "get": "crm.deal.get?ID=$result[add]",
        "dangling": "crm.deal.get?ID=$result[bad][ID]",
    })
    # embedded reference whose target is not a string: stays literal
    assert r["result"]["get"]["TITLE"] == "T $result[bad][ID]"
    # whole-value reference to a failed command: the walk stops at the accumulator,
    # so ID becomes the whole result map (an array) -> "ID is not defined or invalid."
    assert r["result_error"]["dangling"]["error_description"] == "ID is not defined or invalid."


def test_reference_to_a_short_page_is_a_command_error(c):
    """``$result[a][items][49][id]`` on a page of 2 rows falls back to the items
    list; an array where the filter needs a scalar fails that command only."""
    r = c.batch({"a": "crm.item.list?entityTypeId=2&select[]=id&filter[<id]=3",
                 "b": "crm.item.list?entityTypeId=2&select[]=id&filter[>id]=$result[a][items][49][id]",
                 "c": "server.time"})
    assert r["result_error"] == {"b": {"error": "ERROR_ARGUMENT",
                                       "error_description": "Invalid filter value for field 'id'"}}
    assert set(r["result"]) == {"a", "c"}


def test_substitution_rules_unit():
    acc = {"result": {"a": {"ID": "7", "LIST": [{"X": "1"}], "N": None}, "s": "abc"},
           "next": {"a": 50}, "total": {"a": 120}, "time": {"a": {"processing": 0.5}},
           "error": {"b": {"error": "", "error_description": "Not found"}}}
    assert substitute("$result[a][ID]", acc) == "7"
    assert substitute("$result[a][LIST]", acc) == [{"X": "1"}]              # whole value: array
    assert substitute("$result[a][LIST][0][X]", acc) == "1"
    assert substitute("$result[a][nope][deeper]", acc) == acc["result"]["a"]   # deepest node
    assert substitute("$result[zz][ID]", acc) == acc["result"]              # failed command
    assert substitute("$result[a][N]", acc) == acc["result"]["a"]           # null: isset() fails
    assert substitute("id-$result[a][ID]", acc) == "id-7"
    assert substitute("x $result[a][LIST] y", acc) == "x $result[a][LIST] y"  # array: literal
    assert substitute("p$next[a] t$total[a]", acc) == "p50 t120"
    assert substitute("$time[a][processing]", acc) == 0.5
    assert substitute("$error[b][error_description]", acc) == "Not found"
    assert substitute("$result[s][1]", acc) == "b"                          # string offset
    assert substitute("$result", acc) == "$result"                          # no path: untouched
    assert substitute("$result[a][ID]x", acc) == "7"                        # \S* eats the tail


def test_batch_time_and_status_200_when_everything_fails(c):
    st, body = c.v2("batch", {"cmd": ["no.such", "crm.deal.get?ID=0"]})
    assert st == 200 and len(body["result"]["result_error"]) == 2 and "time" in body
    st, body = c.v2("batch", {})
    assert st == 200 and body["result"] == {"result": [], "result_error": [], "result_total": [],
                                            "result_next": [], "result_time": []}


# ================================================================ v3 batch

def test_v3_batch_ok_ref_and_ref_array(c):
    st, body = c.v3("batch", [
        {"method": "tasks.task.add", "query": {"fields": {"title": "B1"}}, "as": "t1"},
        {"method": "tasks.task.add", "query": {"fields": {"title": "B2"}}, "as": "t2"},
        {"method": "tasks.task.get", "query": {"id": {"$ref": "t1.item.id"}, "select": ["id", "title"]}},
        {"method": "tasks.task.list", "query": {"filter": [["id", "in", [{"$ref": "t1.item.id"},
                                                                         {"$ref": "t2.item.id"}]]],
                                                "select": ["id", "title"]}, "as": "l"},
        {"method": "tasks.task.list", "query": {"filter": [["id", "in", {"$refArray": "l.items.id"}]],
                                                "select": ["id"], "order": {"id": "DESC"}}},
    ])
    assert st == 200 and set(body) == {"result", "time"}
    res = body["result"]
    assert isinstance(res, list) and len(res) == 5
    t1, t2 = res[0]["item"]["id"], res[1]["item"]["id"]
    assert res[2] == {"item": {"id": t1, "title": "B1"}}
    assert [i["title"] for i in res[3]["items"]] == ["B1", "B2"]
    assert res[4] == {"items": [{"id": t2}, {"id": t1}]}


def test_v3_batch_all_or_nothing(c, emu):
    before = emu.stats()["rows_created"].get("tasks", 0)
    cmds = [{"method": "tasks.task.add", "query": {"fields": {"title": "never"}}, "as": "t"},
            {"method": "tasks.task.get", "query": {"id": 99999999}}]
    st, body = c.v3("batch", cmds)
    assert st == 400 and body == {"error": {"code": V3 + "ENTITYNOTFOUNDEXCEPTION",
                                            "message": "Record with ID = `99999999` not found"}}
    assert emu.stats()["rows_created"].get("tasks", 0) == before
    st, b = c.v3("tasks.task.list", {"filter": [["title", "=", "never"]]})
    assert b["result"]["items"] == []                    # rolled back
    emu.configure(v3_batch_rollback=False)
    try:
        assert c.v3("batch", cmds)[0] == 400
        assert len(c.v3("tasks.task.list", {"filter": [["title", "=", "never"]]})[1]["result"]["items"]) == 1
    finally:
        emu.configure(v3_batch_rollback=True)


@pytest.mark.parametrize("ref", [{"$ref": "t.item.nosuch"}, {"$ref": "zz.item.id"}, {"$ref": "t.result"},
                                 {"$ref": "t"}, {"$refArray": "t.items.id"}])
def test_v3_batch_bad_reference(c, ref):
    st, body = c.v3("batch", [
        {"method": "tasks.task.get", "query": {"id": 1}, "as": "t"},
        {"method": "tasks.task.get", "query": {"id": ref}},
    ])
    assert st == 400 and body["error"]["code"] == V3 + "INVALIDSELECTEXCEPTION"


def test_v3_batch_rejects_v2_body_and_limits(c):
    st, body = c.v3("batch", {"cmd": {"a": "tasks.task.list"}})
    assert st == 400 and body["error"]["code"] == V3 + "INVALIDSELECTEXCEPTION"
    st, body = c.v3("batch", [{"method": "tasks.task.list", "query": {}}] * 51)
    assert st == 400 and body["error"]["code"] == V3 + "INVALIDSELECTEXCEPTION"
    st, body = c.v3("batch", [{"method": "crm.deal.list", "query": {}}])
    assert st == 404 and body["error"]["code"] == V3 + "METHODNOTFOUNDEXCEPTION"
    st, body = c.v3("batch", [{"method": "tasks.task.list", "query": {"select": ["id"]}}] * 50)
    assert st == 200 and len(body["result"]) == 50


# ================================================================ v3 lists

def test_v3_pagination_everywhere(c):
    ids = lambda b: [i["id"] for i in b["result"]["items"]]   # noqa: E731
    base = {"entityTypeId": 2, "select": ["id"], "order": {"id": "ASC"}}
    all_ = ids(c.v3("crm.item.list", {**base, "pagination": {"limit": 20}})[1])
    assert ids(c.v3("crm.item.list", {**base, "pagination": {"page": 2, "limit": 5}})[1]) == all_[5:10]
    assert ids(c.v3("crm.item.list", {**base, "pagination": {"offset": 3, "limit": 4}})[1]) == all_[3:7]
    n_deals = c.v2("crm.deal.list", {"select": ["ID"]})[1]["total"]
    assert 240 <= n_deals < 1000
    assert len(ids(c.v3("crm.item.list", {**base, "pagination": {"limit": 5000}})[1])) == n_deals
    c.portal.seed_demo(5000)                                            # 1000+ deals now
    assert len(ids(c.v3("crm.item.list", {**base, "pagination": {"limit": 5000}})[1])) == 1000
    assert len(c.v3("tasks.task.list", {"pagination": {"limit": 100}})[1]["result"]["items"]) == 50
    st, b = c.v3("main.eventlog.list", {"pagination": {"limit": "abc"}})
    assert st == 400 and b["error"]["code"] == V3 + "INVALIDPAGINATIONEXCEPTION"
    assert len(c.v3("main.eventlog.list", {"pagination": {"limit": 2}})[1]["result"]["items"]) <= 2


def _fill_log(c: Client, n: int = 6) -> list[int]:
    for i in range(n):
        c.v2("crm.lead.add", {"fields": {"TITLE": f"log {i}"}})
    st, b = c.v3("main.eventlog.list", {"select": ["id", "auditTypeId", "moduleId", "itemId"],
                                        "order": {"id": "ASC"}, "pagination": {"limit": 1000}})
    assert st == 200
    return [i["id"] for i in b["result"]["items"]]


def test_eventlog_is_filled_by_writes(c):
    ids = _fill_log(c, 2)
    st, b = c.v3("main.eventlog.get", {"id": ids[-1]})
    assert st == 200 and b["result"]["item"]["auditTypeId"] == "CRM_LEAD_ADD"
    assert b["result"]["item"]["moduleId"] == "crm"
    c.v3("tasks.task.add", {"fields": {"title": "logged"}})
    st, b = c.v3("main.eventlog.list", {"filter": [["moduleId", "=", "tasks"]], "select": ["auditTypeId"]})
    assert {"auditTypeId": "TASK_ADD", "id": b["result"]["items"][0]["id"]} in b["result"]["items"]
    st, b = c.v3("main.eventlog.get", {"id": 10 ** 9})
    assert st == 400 and b["error"]["code"] == V3 + "ENTITYNOTFOUNDEXCEPTION"


def test_eventlog_tail(c):
    ids = _fill_log(c)
    tail = lambda cur, **kw: c.v3("main.eventlog.tail", {"cursor": cur, "select": ["id"], **kw})  # noqa: E731
    st, b = tail({"field": "id", "order": "ASC", "value": 0, "limit": 2})
    assert st == 200 and [i["id"] for i in b["result"]["items"]] == ids[:2]
    st, b = tail({"value": ids[1], "limit": 2})                    # defaults: field id, ASC
    assert [i["id"] for i in b["result"]["items"]] == ids[2:4]
    st, b = tail({"order": "DESC", "value": ids[3], "limit": 3})
    assert [i["id"] for i in b["result"]["items"]] == [ids[2], ids[1], ids[0]]
    st, b = tail({"order": "DESC"})                                # DESC from the default 0: nothing
    assert st == 200 and b["result"]["items"] == []
    st, b = tail({"field": "id", "value": 0}, filter=[["id", ">", 3]])
    assert st == 400 and b["error"]["code"] == V3 + "INVALIDFILTEREXCEPTION"
    st, b = tail({"value": 0}, filter=[["moduleId", "=", "crm"]])
    got = [i["id"] for i in b["result"]["items"]]
    assert st == 200 and len(got) >= 6 and got == sorted(got)
    st, b = c.v3("main.eventlog.tail", {"cursor": {"field": "auditTypeId", "value": "", "limit": 1},
                                        "select": ["id"]})
    assert st == 200 and set(b["result"]["items"][0]) == {"id", "auditTypeId"}
    assert "next" not in b and "total" not in b


def test_aggregates(c):
    st, b = c.v3("tasks.task.list", {"select": ["id", "priority", "status"], "pagination": {"limit": 50},
                                     "filter": [["status", "=", 2]]})
    rows = b["result"]["items"]
    st, agg = c.v3("tasks.task.aggregate", {
        "select": {"count": ["id"], "max": {"id": "maxId"}, "sum": ["priority"],
                   "countDistinct": {"status": "statuses"}, "min": ["id"]},
        "filter": [["status", "=", 2]]})
    assert st == 200
    res = agg["result"]["result"]
    if len(rows) < 50:
        assert res["count"]["id"] == len(rows)
        assert res["sum"]["priority"] == sum(r["priority"] for r in rows)
        assert res["max"]["maxId"] == max(r["id"] for r in rows)
    assert res["countDistinct"]["statuses"] == 1
    st, agg = c.v3("crm.item.aggregate", {"entityTypeId": 2,
                                          "select": {"sum": ["opportunity"], "avg": ["opportunity"],
                                                     "count": {"id": "n"}}})
    assert st == 200 and agg["result"]["result"]["count"]["n"] >= 240
    assert agg["result"]["result"]["sum"]["opportunity"] > 0
    st, b = c.v3("tasks.task.aggregate", {"select": {"median": ["id"]}})
    assert st == 400 and b["error"]["code"] == V3 + "INVALIDSELECTEXCEPTION"
    st, b = c.v3("tasks.task.aggregate", {"select": {"sum": ["nosuch"]}})
    assert st == 400 and b["error"]["code"] == V3 + "UNKNOWNDTOPROPERTYEXCEPTION"
    st, b = c.v3("tasks.task.aggregate", {"select": {"sum": "id"}})
    assert st == 400 and b["error"]["code"] == V3 + "INVALIDSELECTEXCEPTION"


def test_sleeping_batch_bills_its_sub_calls_once(emu):
    """--sleep: a batch's sub-calls sleep their cost one after another; the batch
    does not sleep it again, and its processing is their sum, not twice it."""
    emu.configure(sleep_simulated_cost=True, exec_time_per_call={"crm.item.list": 0.1})
    try:
        cl = Client(emu)
        cmd = {f"p{i}": f"crm.item.list?entityTypeId=2&start=-1&filter[>id]={i}" for i in range(4)}
        status, body = cl.v2("batch", {"halt": 1, "cmd": cmd})
        cl.conn.close()
    finally:
        emu.configure(sleep_simulated_cost=False, exec_time_per_call=0.0)
    assert status == 200
    subs = [t["processing"] for t in body["result"]["result_time"].values()]
    assert len(subs) == 4 and all(p >= 0.1 for p in subs)
    assert sum(subs) <= body["time"]["processing"] < sum(subs) + 0.2
