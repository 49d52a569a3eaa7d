"""Tests of the emulator portal (b24hook.emulator), driven with the standard
library only (http.client + ssl): the emulator is checked against
spec/portal.md, never through the b24hook client."""
from __future__ import annotations

import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import types
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

ROOT = Path(__file__).resolve().parents[1]

try:  # the parent package may need the C extension; the emulator does not
    from b24hook.emulator import EmulatorPortal
except ImportError:  # pragma: no cover - only while b24hook._core is not built
    for _k in [k for k in sys.modules if k == "b24hook" or k.startswith("b24hook.")]:
        del sys.modules[_k]
    _pkg = types.ModuleType("b24hook")
    _pkg.__path__ = [str(ROOT / "b24hook")]
    sys.modules["b24hook"] = _pkg
    from b24hook.emulator import EmulatorPortal

from b24hook.emulator.phpcompat import parse_str, php_json_encode  # noqa: E402

PARENT_IMPORTABLE = subprocess.run(
    [sys.executable, "-c", "import b24hook"], cwd=ROOT, capture_output=True).returncode == 0


class Client:
    """A tiny keep-alive HTTPS client verifying the portal's CA."""

    def __init__(self, portal: EmulatorPortal) -> None:
        self.portal = portal
        self.ctx = ssl.create_default_context(cafile=portal.ca_path)
        self.conn = http.client.HTTPSConnection("127.0.0.1", portal.port, context=self.ctx, timeout=10)

    def raw(self, verb: str, path: str, body: bytes | str | None = None,
            ctype: str | None = None) -> tuple[int, dict, bytes]:
        headers = {"Content-Type": ctype} if ctype else {}
        if isinstance(body, str):
            body = body.encode()
        for attempt in range(2):
            try:
                self.conn.request(verb, path, body=body, headers=headers)
                r = self.conn.getresponse()
                return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def v2(self, method: str, params: dict | None = None, *, query: str = "",
           verb: str = "POST") -> tuple[int, dict]:
        path = f"/rest/{self.portal.user_id}/{self.portal.secret}/{method}"
        if query:
            path += "?" + query
        body = json.dumps(params) if params is not None else None
        st, _, data = self.raw(verb, path, body, "application/json" if body else None)
        return st, json.loads(data)

    def v3(self, method: str, params: dict | None = None) -> tuple[int, dict]:
        path = f"/rest/api/{self.portal.user_id}/{self.portal.secret}/{method}"
        body = json.dumps(params) if params is not None else None
        st, _, data = self.raw("POST", path, body, "application/json" if body else None)
        return st, json.loads(data)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="module")
def portal():
    p = EmulatorPortal(seed_demo=300).start()
    yield p
    p.stop()


@pytest.fixture
def c(portal):
    cl = Client(portal)
    yield cl
    cl.close()


@pytest.fixture(scope="module")
def empty():
    p = EmulatorPortal(count_cost_per_row=1e-3).start()
    yield p
    p.stop()


# ---------------------------------------------------------------- unit: PHP

def test_parse_str_php_rules():
    got = parse_str("a[b][c]=1&a[]=x&a[]=y&s=1&s=2&x.y=3&filter[%3EID]=10&f[PHONE][0][VALUE]=%2B7&e=&q[=1")
    assert got["a"] == {"b": {"c": "1"}, "0": "x", "1": "y"}
    assert got["s"] == "2"                     # last scalar wins
    assert got["x_y"] == "3"                   # dots in the base name become _
    assert got["filter"] == {">ID": "10"}
    assert got["f"] == {"PHONE": {"0": {"VALUE": "+7"}}}
    assert got["e"] == "" and got["q_"] == "1"
    assert parse_str("a=1&a[]=2") == {"a": {"0": "2"}}   # scalar replaced by array


def test_php_json_encode_quirks():
    out = php_json_encode({"t": "Пр/<a href='x'>&\"", "e": {}, "l": {"0": 1, "1": 2}, "m": {"1": 1},
                           "n": None, "b": True})
    assert out == (b'{"t":"\\u041f\\u0440\\/\\u003Ca href=\\u0027x\\u0027\\u003E\\u0026\\u0022",'
                   b'"e":[],"l":[1,2],"m":{"1":1},"n":null,"b":true}')



_PHP_CHARS = hst.characters(max_codepoint=0x1F680, blacklist_characters="\x7f")


def _php_string(s: str) -> str:
    """PHP json_encode of one string with the portal's flags, one character at a time."""
    named = {'"': "\\u0022", "\\": "\\\\", "/": "\\/", "<": "\\u003C", ">": "\\u003E",
             "&": "\\u0026", "'": "\\u0027", "\b": "\\b", "\f": "\\f", "\n": "\\n",
             "\r": "\\r", "\t": "\\t"}
    out = []
    for ch in s:
        o = ord(ch)
        if ch in named:
            out.append(named[ch])
        elif o < 0x20 or 0x7F < o < 0x10000:
            out.append(f"\\u{o:04x}")
        elif o >= 0x10000:
            o -= 0x10000
            out.append(f"\\u{0xD800 + (o >> 10):04x}\\u{0xDC00 + (o & 0x3FF):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def test_php_json_encode_escapes_backslash_quote_pairs():
    # a quote after an escaped backslash is still a quote; a backslash before a slash stays one
    assert php_json_encode(["x\\", '\\"/', "\\\\\"", "a/b</c>"]) == (
        b'["x\\\\","\\\\\\u0022\\/","\\\\\\\\\\u0022","a\\/b\\u003C\\/c\\u003E"]')


@settings(max_examples=300, deadline=None)
@given(hst.dictionaries(hst.text(_PHP_CHARS, max_size=8), hst.text(_PHP_CHARS), max_size=6))
def test_php_json_encode_strings_match_php(d):
    """The encoder (json.dumps + replacements) equals PHP's character-by-character output.
    (DEL, 0x7F, is left out: json.dumps writes \\u007f where PHP writes the byte.)"""
    d = {k: v for k, v in d.items() if not k.lstrip("-").isdigit()}
    want = "{" + ",".join(f"{_php_string(k)}:{_php_string(v)}" for k, v in d.items()) + "}" if d else "[]"
    assert php_json_encode(d) == want.encode("ascii")



def test_listen_backlog_admits_a_burst_of_connections(portal):
    # socketserver's default backlog of 5 dropped the SYNs of a planned export's ~40
    # connections (re-sent by the client's kernel only after 1 s); nginx listens with 511
    assert portal._server.request_queue_size >= 128


def test_batch_commands_share_one_sleep_debt(monkeypatch):
    """A command that woke late (behind the GIL) is paid back by the next one's sleep."""
    from b24hook.emulator import EmulatorPortal
    from b24hook.emulator import dispatch

    p = EmulatorPortal(db=":memory:")       # not started: only its dispatcher
    waits: list[float] = []
    clock = [100.0]

    def wait(seconds: float) -> bool:       # sleeps 20 ms longer than asked
        waits.append(seconds)
        clock[0] += seconds + 0.02
        return False

    monkeypatch.setattr(p._stopping, "wait", wait)
    monkeypatch.setattr(dispatch.time, "perf_counter", lambda: clock[0])
    carry = [0.0]
    for _ in range(3):
        p.dispatcher._sleep(0.1, carry)
    assert waits == pytest.approx([0.1, 0.08, 0.08])
    assert carry[0] == pytest.approx(0.02)
    p.dispatcher._sleep(0.01, carry)         # owed more than it costs: no sleep at all
    assert len(waits) == 3 and carry[0] == pytest.approx(0.01)
    p.dispatcher._sleep(0.1, None)           # a lone call: exactly its cost
    assert waits[-1] == pytest.approx(0.1)
    p.close()


# ---------------------------------------------------------------- routing

def test_routing_suffix_slash_case(c, portal):
    s = portal.secret
    for path in (f"/rest/1/{s}/server.time", f"/rest/1/{s}/server.time.json",
                 f"/rest/1/{s}/server.time/", f"/rest/1/{s}/SERVER.Time.json/"):
        st, h, body = c.raw("GET", path)
        assert st == 200, path
        assert h["content-type"] == "application/json; charset=utf-8"
        assert h["access-control-allow-origin"] == "*"
        assert h["x-content-type-options"] == "nosniff"
        assert int(h["content-length"]) == len(body)
        assert json.loads(body)["result"][19:] == "+03:00"
    st, h, body = c.raw("GET", f"/rest/1/{s}/profile.xml")
    assert st == 200 and h["content-type"].startswith("text/xml") and body.startswith(b"<?xml")
    assert portal.v2_url == f"{portal.origin}/rest/1/{s}" and portal.v3_url == f"{portal.origin}/rest/api/1/{s}"
    st, h, _ = c.raw("GET", "/index.php")
    assert st == 404 and h["content-type"].startswith("text/html")


def test_404_before_auth_and_bad_secret(c, portal):
    st, _, body = c.raw("GET", "/rest/1/wrong/no.such.method")
    assert st == 404 and json.loads(body) == {"error": "ERROR_METHOD_NOT_FOUND",
                                              "error_description": "Method not found!"}
    st, _, body = c.raw("GET", "/rest/1/wrong/profile")
    assert st == 401 and json.loads(body) == {"error": "INVALID_CREDENTIALS",
                                              "error_description": "Invalid request credentials"}
    st, _, body = c.raw("GET", f"/rest/2/{portal.secret}/profile")   # secret of another user
    assert st == 401
    st, _, body = c.raw("GET", "/rest/profile")                      # no credentials
    assert st == 401 and json.loads(body)["error"] == "NO_AUTH_FOUND"
    assert "time" not in json.loads(body)


def test_auth_status_switch_and_scopes():
    with EmulatorPortal(auth_error_status=403, secret="s3cr3t") as p:
        p.add_webhook(7, "crmonly", scopes=("crm",))
        cl = Client(p)
        st, _, _ = cl.raw("GET", "/rest/1/nope/profile")
        assert st == 403
        st, _, body = cl.raw("GET", "/rest/7/crmonly/user.current")
        assert st == 403 and json.loads(body)["error"] == "insufficient_scope"
        st, _, body = cl.raw("GET", "/rest/7/crmonly/crm.deal.list")
        assert st == 200
        st, _, body = cl.raw("GET", "/rest/7/crmonly/app.info")
        assert json.loads(body)["result"] == {"SCOPE": ["crm"], "LICENSE": "en_project"}
        st, _, body = cl.raw("POST", "/rest/api/7/crmonly/tasks.task.list")
        assert st == 403
        assert json.loads(body)["error"]["code"] == "BITRIX_REST_V3_EXCEPTION_INSUFFICIENTSCOPEEXCEPTION"
        cl.close()


# ---------------------------------------------------------------- parameters

def test_query_json_form_merge(c, portal):
    base = f"/rest/1/{portal.secret}/crm.item.get"
    # query + JSON body, body wins
    st, _, b = c.raw("POST", base + "?entityTypeId=2&id=999999", json.dumps({"id": 1}),
                     "application/json; charset=utf-8")
    assert st == 200 and json.loads(b)["result"]["item"]["id"] == 1
    # form body in PHP bracket syntax
    st, _, b = c.raw("POST", base, "entityTypeId=2&id=2", "application/x-www-form-urlencoded")
    assert st == 200 and json.loads(b)["result"]["item"]["id"] == 2
    # unparsable JSON = no parameters at all
    st, _, b = c.raw("POST", base, "{not json", "application/json")
    assert st == 400 and json.loads(b) == {
        "error": "100", "error_description": "Could not find value for parameter {entityTypeId}"}
    # a JSON body with another content type is read as a form string
    st, _, b = c.raw("POST", base, json.dumps({"entityTypeId": 2, "id": 1}), "text/plain")
    assert st == 400 and json.loads(b)["error"] == "100"
    # shallow merge: a body filter replaces the query filter whole
    st, _, b = c.raw("POST", f"/rest/1/{portal.secret}/crm.deal.list?filter[ID]=1&select[]=ID",
                     json.dumps({"filter": {">ID": 58}, "bx24_request_id": "x"}), "application/json")
    assert [r["ID"] for r in json.loads(b)["result"]] == ["59", "60"]


def test_start_lower_case_only_and_multipart(c, portal):
    st, _, b = c.raw("GET", f"/rest/1/{portal.secret}/crm.deal.list?START=50&select[]=ID")
    assert json.loads(b)["result"][0]["ID"] == "1"
    body = (b"--XX\r\nContent-Disposition: form-data; name=\"entityTypeId\"\r\n\r\n3\r\n"
            b"--XX\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\n1\r\n--XX--\r\n")
    st, _, b = c.raw("POST", f"/rest/1/{portal.secret}/crm.item.get", body,
                     "multipart/form-data; boundary=XX")
    assert st == 200 and json.loads(b)["result"]["item"]["id"] == 1


def test_php_json_on_the_wire(c, portal):
    st, _, b = c.raw("POST", f"/rest/1/{portal.secret}/crm.item.add",
                     json.dumps({"entityTypeId": 1256, "fields": {"title": "Встреча a/b <x> & 'y'"}}),
                     "application/json")
    assert st == 200
    assert b"\\u0412\\u0441\\u0442\\u0440" in b and b"a\\/b \\u003Cx\\u003E \\u0026 \\u0027y\\u0027" in b
    item = json.loads(b)["result"]["item"]
    st, _, b = c.raw("POST", f"/rest/1/{portal.secret}/crm.item.delete",
                     json.dumps({"entityTypeId": 1256, "id": item["id"]}), "application/json")
    assert st == 200 and b.startswith(b'{"result":[],"time":{')


# ---------------------------------------------------------------- system methods

def test_system_methods(c, portal):
    st, r = c.v2("server.time")
    assert st == 200 and set(r) == {"result", "time"}
    t = r["time"]
    assert list(t) == ["start", "finish", "duration", "processing", "date_start", "date_finish",
                       "operating_reset_at", "operating"]
    assert t["operating_reset_at"] == int(t["start"]) + 600
    st, r = c.v2("profile")
    assert r["result"]["ID"] == "1" and r["result"]["ADMIN"] is True
    st, r = c.v2("user.current")
    assert r["result"]["ID"] == "1" and r["result"]["ACTIVE"] is True and r["result"]["UF_DEPARTMENT"] == [1]
    st, r = c.v2("user.get", {"FILTER": {"PERSONAL_GENDER": "F"}, "sort": "ID", "order": "DESC"})
    ids = [u["ID"] for u in r["result"]]
    assert ids == sorted(ids, key=int, reverse=True) and r["total"] == len(ids) and "next" not in r
    st, r = c.v2("user.get", {"filter": {">ID": 6}})
    assert [u["ID"] for u in r["result"]] == ["7", "8"]
    st, r = c.v2("scope")
    assert "crm" in r["result"] and "sale" not in r["result"]
    st, r = c.v2("scope", {"full": True})
    assert "sale" in r["result"]
    st, r = c.v2("methods", query="scope=")
    assert "server.time" in r["result"] and "crm.deal.list" not in r["result"]
    st, r = c.v2("methods", {"scope": "crm"})
    assert "crm.item.list" in r["result"] and "profile" not in r["result"]
    st, r = c.v2("methods")
    assert "tasks.task.list" in r["result"] and "rest.scope.list" not in r["result"]
    st, r = c.v2("method.get", {"name": "CRM.DEAL.LIST"})
    assert r["result"] == {"isExisting": True, "isAvailable": True}
    st, r = c.v2("method.get", {"name": "nope"})
    assert r["result"] == {"isExisting": False, "isAvailable": False}
    st, r = c.v2("app.info")
    assert set(r["result"]) == {"SCOPE", "LICENSE"}
    st, r = c.v2("feature.get", {"CODE": "x"})
    assert r["result"] == {"value": "Y"}
    st, r = c.v2("feature.get")
    assert st == 400 and r["error"] == "CODE_EMPTY"


# ---------------------------------------------------------------- crm.item.*

@pytest.mark.parametrize("et", [1, 2, 3, 4, 128, 1256])
def test_crm_item_crud(c, et):
    st, r = c.v2("crm.item.fields", {"entityTypeId": et})
    assert st == 200 and r["result"]["fields"]["id"]["type"] == "integer"
    assert r["result"]["fields"]["createdTime"]["upperName"] == "DATE_CREATE"
    st, r = c.v2("crm.item.add", {"entityTypeId": et, "fields": {"title": "T1", "name": "N",
                                                                  "assignedById": "2", "unknownKey": 1}})
    assert st == 200
    item = r["result"]["item"]
    assert isinstance(item["id"], int) and item["assignedById"] == 2 and "unknownKey" not in item
    st, r = c.v2("crm.item.update", {"entityTypeId": et, "id": item["id"], "fields": {"assignedById": 3}})
    assert r["result"]["item"]["assignedById"] == 3
    st, r = c.v2("crm.item.get", {"entityTypeId": et, "id": item["id"]})
    assert r["result"]["item"]["id"] == item["id"] and r["result"]["item"]["assignedById"] == 3
    st, r = c.v2("crm.item.list", {"entityTypeId": et, "filter": {"=id": item["id"]}, "select": ["id", "assignedById"]})
    assert r["result"]["items"] == [{"id": item["id"], "assignedById": 3} | ({"entityTypeId": et} if et > 100 else {})] \
        or r["result"]["items"] == [{"id": item["id"], "assignedById": 3}]
    assert r["total"] == 1
    st, r = c.v2("crm.item.delete", {"entityTypeId": et, "id": item["id"]})
    assert st == 200 and r["result"] == []
    st, r = c.v2("crm.item.get", {"entityTypeId": et, "id": item["id"]})
    assert st == 400 and r == {"error": "NOT_FOUND", "error_description": "Element not found"}


def test_crm_item_errors(c):
    assert c.v2("crm.item.get", {"entityTypeId": 999, "id": 1}) == (
        400, {"error": "NOT_FOUND", "error_description": "Smart process not found"})
    st, r = c.v2("crm.item.get", {"entityTypeId": 2})
    assert st == 400 and r["error_description"] == "Could not find value for parameter {id}"
    st, r = c.v2("crm.item.get", {"entityTypeId": 2, "id": "abc"})
    assert st == 400 and r["error"] == "100" and r["error_description"].startswith("Invalid value abc")
    st, r = c.v2("crm.item.list", {"entityTypeId": 2, "filter": {"nope": 1}})
    assert st == 400 and r["error"] == "INVALID_ARG_VALUE"
    st, r = c.v2("crm.item.update", {"entityTypeId": 2, "id": 10**6, "fields": {}})
    assert st == 400 and r["error"] == "NOT_FOUND"


def test_crm_item_list_filters(c):
    st, r = c.v2("crm.item.list", {"entityTypeId": 2, "filter": {">=id": 5, "<id": 9, "!id": 6},
                                   "order": {"id": "DESC"}, "select": ["id"]})
    assert [i["id"] for i in r["result"]["items"]] == [8, 7, 5]
    st, r = c.v2("crm.item.list", {"entityTypeId": 2, "filter": {"@id": [1, 3], "%title": "#3"}, "select": ["id"]})
    assert [i["id"] for i in r["result"]["items"]] == [3]
    st, r = c.v2("crm.item.list", {"entityTypeId": 2, "select": ["id"],
                                   "filter": {"0": {"logic": "OR", "0": {"id": 2}, "1": {"id": 4}}}})
    assert [i["id"] for i in r["result"]["items"]] == [2, 4]
    st, r = c.v2("crm.item.list", {"entityTypeId": 128, "select": ["id", "ufCrm1_1712074666"],
                                   "useOriginalUfNames": "Y", "filter": {"id": 1}})
    assert set(r["result"]["items"][0]) >= {"id", "UF_CRM_1_1712074666"}


# ---------------------------------------------------------------- legacy crm

@pytest.mark.parametrize("name", ["lead", "deal", "contact", "company"])
def test_legacy_crm(c, name):
    st, r = c.v2(f"crm.{name}.fields")
    assert r["result"]["ID"]["type"] == "integer"
    st, r = c.v2(f"crm.{name}.add", {"fields": {"TITLE": "Legacy", "NAME": "Ann", "OPPORTUNITY": 12.5,
                                                 "PHONE": [{"VALUE": "+100", "VALUE_TYPE": "WORK"}]}})
    assert st == 200 and isinstance(r["result"], int)
    new_id = r["result"]
    st, r = c.v2(f"crm.{name}.get", {"id": new_id})
    row = r["result"]
    assert row["ID"] == str(new_id) and row["CREATED_BY_ID"] == "1"
    if name in ("lead", "contact", "company"):
        assert row["PHONE"][0]["VALUE"] == "+100"
    st, r = c.v2(f"crm.{name}.update", {"ID": new_id, "FIELDS": {"ASSIGNED_BY_ID": 4}})
    assert r["result"] is True
    st, r = c.v2(f"crm.{name}.list", {"FILTER": {"=ID": new_id}, "SELECT": ["ASSIGNED_BY_ID"]})
    assert r["result"] == [{"ID": str(new_id), "ASSIGNED_BY_ID": "4"}] and r["total"] == 1
    st, r = c.v2(f"crm.{name}.delete", {"id": new_id})
    assert r["result"] is True
    assert c.v2(f"crm.{name}.get", {"id": new_id}) == (400, {"error": "", "error_description": "Not found"})
    assert c.v2(f"crm.{name}.get", {"id": "x"}) == (
        400, {"error": "", "error_description": "ID is not defined or invalid."})
    st, r = c.v2(f"crm.{name}.add", {"fields": "x"})
    assert st == 400 and r["error_description"] == "Parameter 'fields' must be array."


def test_legacy_values_are_strings(c):
    st, r = c.v2("crm.deal.list", {"select": ["ID", "OPPORTUNITY", "CLOSEDATE", "COMMENTS"], "order": {"ID": "ASC"}})
    d = r["result"][0]
    assert d["ID"] == "1" and isinstance(d["OPPORTUNITY"], str) and "." in d["OPPORTUNITY"]
    assert d["COMMENTS"] is None
    st, r = c.v2("crm.lead.list", {"filter": {"%TITLE": "zzzz-nothing"}})
    assert r["result"] == [] and r["total"] == 0


# ---------------------------------------------------------------- paging

def _fill_leads(p: EmulatorPortal, n: int) -> None:
    p.store.execute("DELETE FROM crm_item WHERE entity_type_id=1")
    with p.store.lock:
        p.store.conn.executemany(
            "INSERT INTO crm_item(entity_type_id, id, title, opened) VALUES (1, ?, ?, 'Y')",
            [(i, f"Lead {i}") for i in range(1, n + 1)])


@pytest.mark.parametrize("n", [0, 1, 50, 51, 120])
def test_paging(empty, n):
    _fill_leads(empty, n)
    cl = Client(empty)
    try:
        for method, params, get in (("crm.lead.list", {}, lambda r: r["result"]),
                                    ("crm.item.list", {"entityTypeId": 1}, lambda r: r["result"]["items"])):
            st, r = cl.v2(method, params, query="start=0")
            assert r["total"] == n and len(get(r)) == min(n, 50)
            assert ("next" in r) == (n > 50)
            if n > 50:
                assert r["next"] == 50 and list(r)[:3] == ["result", "next", "total"]
            for start, exp_len, exp_next in ((50, min(max(n - 50, 0), 50), 100 if n > 100 else None),
                                             (75, min(max(n - 50, 0), 50), 100 if n > 100 else None),
                                             (100, max(n - 100, 0), None), (1000, 0, None)):
                st, r = cl.v2(method, params, query=f"start={start}")
                assert len(get(r)) == exp_len and r["total"] == n and r.get("next") == exp_next, (method, start)
            st, r = cl.v2(method, params, query="start=-1")
            assert len(get(r)) == min(n, 50) and "next" not in r
            if method == "crm.item.list":
                assert "total" not in r
                st, r2 = cl.v2(method, params, query="start=-2")    # only -1 disables counting
                assert r2["total"] == n
            else:
                assert r["total"] == 0
    finally:
        cl.close()


def test_counting_costs_more(empty):
    _fill_leads(empty, 120)
    cl = Client(empty)
    _, counted = cl.v2("crm.item.list", {"entityTypeId": 1}, query="start=0")
    _, keyset = cl.v2("crm.item.list", {"entityTypeId": 1, "filter": {">id": 0}, "order": {"id": "ASC"}},
                      query="start=-1")
    assert counted["time"]["processing"] > keyset["time"]["processing"] + 0.1
    cl.close()


# ---------------------------------------------------------------- tasks

def test_tasks_v2(c):
    st, r = c.v2("tasks.task.add", {"fields": {"TITLE": "Call <client>", "RESPONSIBLE_ID": 2}})
    task = r["result"]["task"]
    assert task["id"].isdigit() and task["responsibleId"] == "2" and task["title"] == "Call <client>"
    tid = int(task["id"])
    st, r = c.v2("tasks.task.get", {"taskId": tid})
    assert r["result"]["task"]["id"] == str(tid)
    st, r = c.v2("tasks.task.update", {"taskId": tid, "fields": {"STATUS": 5}})
    assert r["result"]["task"]["status"] == "5"
    st, r = c.v2("tasks.task.list", {"filter": {"ID": tid}, "select": ["ID", "STATUS"]})
    assert r["result"] == {"tasks": [{"id": str(tid), "status": "5"}]} and r["total"] == 1
    st, r = c.v2("tasks.task.list", {"select": ["ID"]})
    ids = [int(t["id"]) for t in r["result"]["tasks"]]
    assert ids == sorted(ids, reverse=True)                    # default ID DESC
    st, r = c.v2("tasks.task.list", {"order": {"BOGUS": "asc"}})
    assert st == 400 and r == {"error": "0", "error_description": "Invalid sorting key (internal error)"}
    st, r = c.v2("tasks.task.delete", {"taskId": tid})
    assert r["result"] == {"task": True}
    st, r = c.v2("tasks.task.get", {"taskId": tid})
    assert st == 400
    st, r = c.v2("tasks.task.get")
    assert st == 400 and r["error_description"] == "Could not find value for parameter {taskId}"


# ---------------------------------------------------------------- v3

def test_v3_envelopes_and_tasks(c, portal):
    st, r = c.v3("tasks.task.add", {"fields": {"title": "v3 task", "responsibleId": 3}})
    assert st == 200 and set(r) == {"result", "time"} and isinstance(r["time"]["start"], int)
    tid = r["result"]["item"]["id"]
    assert isinstance(tid, int) and r["result"]["item"]["responsibleId"] == 3
    st, r = c.v3("tasks.task.get", {"id": tid, "select": ["title", "responsible.name", "nonexistent"]})
    assert r["result"]["item"] == {"id": tid, "title": "v3 task", "responsible": {"name": "Ivan"}}
    st, r = c.v3("tasks.task.get", {"id": tid, "select": ["responsible.stageId"]})
    assert st == 400 and r["error"]["code"] == "BITRIX_REST_V3_EXCEPTION_UNKNOWNDTOPROPERTYEXCEPTION"
    assert "UserDto" in r["error"]["message"]
    st, r = c.v3("tasks.task.update", {"id": tid, "fields": {"status": 3}})
    assert r["result"] == {"result": True}
    st, r = c.v3("tasks.task.delete", {"id": tid})
    assert r["result"] == {"result": True}
    st, r = c.v3("tasks.task.get", {"id": tid})
    assert st == 400 and r["error"]["code"] == "BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION"
    assert r["error"]["message"] == f"Record with ID = `{tid}` not found"
    st, r = c.v3("tasks.task.get", {})
    assert st == 400 and r == {"error": {"code": "BITRIX_REST_V3_EXCEPTION_VALIDATION_REQUESTVALIDATIONEXCEPTION",
                                         "message": "Required field `id` is not specified",
                                         "validation": [{"field": "id", "message": "Required field `id` is not specified"}]}}
    # parameters are not read from the query string
    st, _, b = c.raw("GET", f"/rest/api/1/{portal.secret}/tasks.task.get?id=1")
    assert st == 400 and "validation" in json.loads(b)["error"]
    # form body -> invalid JSON
    st, _, b = c.raw("POST", f"/rest/api/1/{portal.secret}/tasks.task.get", "id=1",
                     "application/x-www-form-urlencoded")
    assert st == 400 and json.loads(b)["error"]["code"] == "BITRIX_REST_V3_EXCEPTION_INVALIDJSONEXCEPTION"
    # v2-only method on v3, v3-only method on v2
    st, r = c.v3("crm.deal.list")
    assert st == 404 and r["error"]["code"] == "BITRIX_REST_V3_EXCEPTION_METHODNOTFOUNDEXCEPTION"
    st, r = c.v2("rest.scope.list")
    assert st == 404 and r["error"] == "ERROR_METHOD_NOT_FOUND"


def test_v3_list_filter_pagination(c, portal):
    st, r = c.v3("tasks.task.list", {})
    assert st == 200 and all(set(i) == {"id"} for i in r["result"]["items"])
    assert len(r["result"]["items"]) <= 50 and "total" not in r and "next" not in r
    st, r = c.v3("tasks.task.list", {"filter": [["id", ">", 2], ["id", "<=", 5]], "order": {"id": "DESC"}})
    assert [i["id"] for i in r["result"]["items"]] == [5, 4, 3]
    st, r = c.v3("tasks.task.list", {"filter": [["id", [1, 2]]]})
    assert [i["id"] for i in r["result"]["items"]] == [1, 2]
    st, r = c.v3("tasks.task.list", {"filter": [{"logic": "or", "conditions": [["id", 1], ["id", "=", 3]]}]})
    assert [i["id"] for i in r["result"]["items"]] == [1, 3]
    st, r = c.v3("tasks.task.list", {"filter": [["id", "between", [1, 4]],
                                                {"negative": True, "conditions": [["id", "in", [2, 3]]]}]})
    assert [i["id"] for i in r["result"]["items"]] == [1, 4]
    st, r = c.v3("tasks.task.list", {"filter": [["title", "like", "x"]]})
    assert st == 400 and r["error"]["code"].endswith("UNKNOWNFILTEROPERATOREXCEPTION")
    st, r = c.v3("tasks.task.list", {"filter": [["bogus", 1]]})
    assert st == 400 and r["error"]["code"].endswith("UNKNOWNDTOPROPERTYEXCEPTION")
    st, r = c.v3("tasks.task.list", {"pagination": {"limit": 2, "page": 2}})
    assert [i["id"] for i in r["result"]["items"]] == [3, 4]
    st, r = c.v3("tasks.task.list", {"pagination": {"limit": 3, "offset": 1}})
    assert [i["id"] for i in r["result"]["items"]] == [2, 3, 4]
    with portal.store.lock:
        portal.store.conn.executemany("INSERT INTO tasks(id, title, status) VALUES (?, ?, 2)",
                                      [(i, f"bulk {i}") for i in range(1000, 1060)])
    st, r = c.v3("tasks.task.list", {"pagination": {"limit": 500}})
    assert len(r["result"]["items"]) == 50                      # tasks cap at 50 silently
    st, r = c.v3("tasks.task.list", {"pagination": {"limit": "abc"}})
    assert st == 400 and r["error"]["code"].endswith("INVALIDPAGINATIONEXCEPTION")
    assert r["error"]["message"] == 'Cannot recognize pagination parameter `{"limit":"abc"}`'
    st, r = c.v3("crm.item.list", {"entityTypeId": 2, "select": ["id", "title"], "filter": [["id", "<", 3]]})
    assert [set(i) for i in r["result"]["items"]] == [{"id", "title"}] * 2
    st, r = c.v3("crm.item.add", {"entityTypeId": 2, "fields": {"title": "v3 deal"}})
    did = r["result"]["item"]["id"]
    assert c.v3("crm.item.update", {"entityTypeId": 2, "id": did, "fields": {"title": "x"}})[1]["result"] == {"result": True}
    assert c.v3("crm.item.get", {"entityTypeId": 2, "id": did})[1]["result"]["item"]["title"] == "x"
    assert c.v3("crm.item.delete", {"entityTypeId": 2, "id": did})[1]["result"] == {"result": True}


def test_v3_openapi_and_scope_list(c, portal):
    st, _, b = c.raw("GET", f"/rest/api/1/{portal.secret}/rest.documentation.openapi")
    doc = json.loads(b)
    assert st == 200 and doc["openapi"] == "3.0.0" and doc["info"]["title"] == "Bitrix24 REST V3 API"
    assert "/tasks.task.list" in doc["paths"] and "result" not in doc and "time" not in doc
    st, r = c.v3("rest.scope.list")
    assert any(e["scope"] == "task" and "tasks.task.get" in e["methods"] for e in r["result"]["items"])


# ---------------------------------------------------------------- faults

def test_fault_kinds(c, portal):
    portal.inject("html", method="server.time")
    st, h, b = c.raw("GET", f"/rest/1/{portal.secret}/profile")           # other method untouched
    assert st == 200
    st, h, b = c.raw("GET", f"/rest/1/{portal.secret}/server.time")
    assert st == 502 and h["content-type"] == "text/html" and b.startswith(b"<html>")
    portal.inject("html", status=504, count=2)
    assert c.raw("GET", f"/rest/1/{portal.secret}/profile")[0] == 504
    assert c.raw("GET", f"/rest/1/{portal.secret}/profile")[0] == 504
    assert c.raw("GET", f"/rest/1/{portal.secret}/profile")[0] == 200
    portal.inject("non_json")
    st, h, b = c.raw("GET", f"/rest/1/{portal.secret}/profile")
    assert st == 200 and h["content-type"].startswith("text/plain")
    with pytest.raises(ValueError):
        json.loads(b)
    portal.inject("no_time", method="PROFILE")
    st, r = c.v2("profile")
    assert st == 200 and "result" in r and "time" not in r
    portal.inject("status", status=503)
    assert c.v2("profile") == (503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})
    portal.inject("status", status=429, method="crm.deal.list")
    st, r = c.v2("crm.deal.list")
    assert st == 429 and r["error"] == "OPERATION_TIME_LIMIT"
    portal.inject("status", status=500, count=5)
    portal.clear_faults()
    assert c.v2("profile")[0] == 200
    with pytest.raises(ValueError):
        portal.inject("bogus")


def test_hang_does_not_block_others(portal):
    portal.inject("hang", method="server.time", delay=0.6)
    res = {}

    def slow():
        cl = Client(portal)
        t = time.monotonic()
        res["st"] = cl.v2("server.time")[0]
        res["dt"] = time.monotonic() - t
        cl.close()

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.1)
    cl = Client(portal)
    t = time.monotonic()
    assert cl.v2("profile")[0] == 200
    assert time.monotonic() - t < 0.3
    cl.close()
    th.join(5)
    assert res["st"] == 200 and res["dt"] >= 0.55


def test_hang_does_not_block_stop():
    before = set(threading.enumerate())
    p = EmulatorPortal().start()
    p.inject("hang")                     # 60 s by default
    errors = []

    def call():
        cl = Client(p)
        try:
            cl.v2("server.time")
        except Exception as exc:  # noqa: BLE001 - the connection is dropped
            errors.append(exc)
        cl.close()

    th = threading.Thread(target=call)
    th.start()
    time.sleep(0.2)
    t = time.monotonic()
    p.stop()
    assert time.monotonic() - t < 2
    th.join(5)
    assert errors and not th.is_alive()
    assert set(threading.enumerate()) - before == set()


# ---------------------------------------------------------------- stats, admin, lifecycle

def test_stats_and_admin(portal):
    cl = Client(portal)
    portal.reset_stats()
    cl.v2("profile")
    cl.v2("profile")
    cl.raw("GET", "/rest/1/bad/no.such")
    s = portal.stats()
    assert s["requests"] == {"profile": {200: 2}, "no.such": {404: 1}} and s["total"] == 3
    assert s["by_status"] == {200: 2, 404: 1} and s["rows_created"] == {}
    st, _, b = cl.raw("GET", "/_emulator/stats")
    assert st == 200 and json.loads(b)["total"] == 3
    st, _, b = cl.raw("POST", "/_emulator/faults", json.dumps({"kind": "status", "status": 503}), "application/json")
    assert st == 200 and cl.v2("profile")[0] == 503
    assert cl.raw("POST", "/_emulator/reset")[0] == 200 and portal.stats()["total"] == 0
    cl.close()


def test_stop_joins_all_threads():
    before = set(threading.enumerate())
    with EmulatorPortal(seed_demo=10) as p:
        cls = [Client(p) for _ in range(3)]
        for cl in cls:                   # open keep-alive connections, left open
            assert cl.v2("server.time")[0] == 200
        ca = p.ca_path
        assert os.path.exists(ca)
    assert set(threading.enumerate()) - before == set()
    assert not os.path.exists(ca)
    for cl in cls:
        cl.close()


def test_seed_demo_large_is_fast():
    p = EmulatorPortal()
    t = time.monotonic()
    out = p.seed_demo(100_000)
    assert time.monotonic() - t < 10
    assert sum(v for k, v in out.items() if k != "tasks") == 100_000
    assert p.store.one("SELECT COUNT(*) FROM crm_item")[0] == 100_000
    p.close()


def test_cli_prints_urls_and_exits_on_sigint(tmp_path):
    if PARENT_IMPORTABLE:
        cmd = [sys.executable, "-m", "b24hook.emulator", "--seed-demo", "5", "--secret", "clisecret"]
    else:  # b24hook/__init__ needs the unbuilt C core: run the same module through a stub parent
        shim = ("import sys,types,runpy; m=types.ModuleType('b24hook'); m.__path__=[%r]; "
                "sys.modules['b24hook']=m; sys.argv[0]='b24hook.emulator'; "
                "runpy.run_module('b24hook.emulator', run_name='__main__', alter_sys=True)"
                % str(ROOT / "b24hook"))
        cmd = [sys.executable, "-c", shim, "--seed-demo", "5", "--secret", "clisecret"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = {}
        deadline = time.monotonic() + 15
        while "CA certificate" not in lines and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            key, _, val = line.partition(": ")
            lines[key] = val.strip()
        v2 = lines["v2 webhook"]
        assert v2.startswith("https://127.0.0.1:") and v2.endswith("/rest/1/clisecret/")
        assert lines["v3 webhook"].endswith("/rest/api/1/clisecret/")
        ca = lines["CA certificate"]
        u = urllib.parse.urlsplit(v2)
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=ssl.create_default_context(cafile=ca))
        conn.request("GET", u.path + "crm.deal.list")
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["total"] == 1
        conn.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_reset_returns_to_the_snapshot() -> None:
    """snapshot()/reset(): rows, id sequences, settings, faults, limits, counters, request log."""
    import urllib.request, json as _json, ssl as _ssl  # noqa: E401
    from b24hook.emulator import EmulatorPortal

    with EmulatorPortal(seed_demo=0) as ep:
        ctx = _ssl.create_default_context(cafile=ep.ca_path)

        def call(method: str, params: dict) -> tuple[int, dict]:
            req = urllib.request.Request(f"{ep.v2_url}/{method}.json", _json.dumps(params).encode(),
                                         {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, context=ctx) as r:
                    return r.status, _json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, _json.loads(e.read() or b"{}")

        st, first = call("crm.deal.add", {"fields": {"TITLE": "kept"}})
        assert st == 200
        ep.snapshot()
        st, second = call("crm.deal.add", {"fields": {"TITLE": "dropped"}})
        ep.configure(rate_limit=(50, 2))
        ep.inject("status", method="crm.deal.list", count=3, status=500)
        assert [r["method"] for r in ep.request_log()] == ["crm.deal.add", "crm.deal.add"]
        ep.reset()
        assert ep.settings.rate_limit is None and ep.faults.pending() == []
        assert ep.request_log() == [] and ep.stats()["total"] == 0
        st, listed = call("crm.deal.list", {"select": ["ID", "TITLE"]})
        assert st == 200 and [d["TITLE"] for d in listed["result"]] == ["kept"]
        st, third = call("crm.deal.add", {"fields": {"TITLE": "again"}})
        assert third["result"] == second["result"]  # the id sequence was restored with the rows
        assert ep.request_log() == [{"method": "crm.deal.list", "status": 200, "api": "v2"},
                                    {"method": "crm.deal.add", "status": 200, "api": "v2"}]
