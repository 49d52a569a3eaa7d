"""Limits, faults, idempotency and counters of the emulator portal
(portal.md §5, §8.6), driven with the standard library only."""
from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import sys
import time
import types
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

try:
    from b24hook.emulator import EmulatorPortal
except ImportError:  # pragma: no cover - only while b24hook._core is not built
    for _k in [k for k in sys.modules if k == "b24hook" or k.startswith("b24hook.")]:
        del sys.modules[_k]
    _pkg = types.ModuleType("b24hook")
    _pkg.__path__ = [str(ROOT / "b24hook")]
    sys.modules["b24hook"] = _pkg
    from b24hook.emulator import EmulatorPortal

NET_ERRORS = (ConnectionError, ssl.SSLError, http.client.HTTPException, OSError)


class Client:
    def __init__(self, portal: EmulatorPortal, user_id: int | None = None,
                 secret: str | None = None) -> None:
        self.portal = portal
        self.uid = user_id or portal.user_id
        self.secret = secret or portal.secret
        self.ctx = ssl.create_default_context(cafile=portal.ca_path)
        self.conn = self._new()

    def _new(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.portal.port, context=self.ctx, timeout=10)

    def raw(self, verb: str, path: str, body: bytes | str | None = None,
            headers: dict | None = None) -> tuple[int, dict, bytes]:
        if isinstance(body, str):
            body = body.encode()
        try:
            self.conn.request(verb, path, body=body, headers=headers or {})
            r = self.conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        except BaseException:
            self.conn.close()
            self.conn = self._new()
            raise

    def v2(self, method: str, params: dict | None = None, headers: dict | None = None):
        h = {"Content-Type": "application/json", **(headers or {})}
        st, hd, data = self.raw("POST", f"/rest/{self.uid}/{self.secret}/{method}",
                                json.dumps(params or {}), h)
        return st, json.loads(data)

    def v3(self, method: str, params=None, headers: dict | None = None):
        st, hd, data = self.v3_raw(method, params, headers)
        return st, json.loads(data)

    def v3_raw(self, method: str, params=None, headers: dict | None = None):
        h = {"Content-Type": "application/json", **(headers or {})}
        return self.raw("POST", f"/rest/api/{self.uid}/{self.secret}/{method}",
                        json.dumps(params if params is not None else {}), h)

    def admin(self, verb: str, path: str, body: dict | None = None):
        st, _, data = self.raw(verb, "/_emulator/" + path,
                               json.dumps(body) if body is not None else None,
                               {"Content-Type": "application/json"} if body is not None else {})
        return st, json.loads(data)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def c():
    """A client of a fresh portal (``c.portal``); the fixture is not called
    ``portal`` so conftest's secret guard does not look for it after teardown."""
    p = EmulatorPortal(seed_demo=40).start()
    cl = Client(p)
    yield cl
    cl.close()
    p.stop()


def deals(c: Client) -> int:
    return c.v2("crm.deal.list", {"select": ["ID"]})[1]["total"]


# ---------------------------------------------------------------- defaults

def test_defaults_are_off(c):
    portal = c.portal
    s = portal.settings
    assert s.rate_limit is None and s.operating_limit is None and s.request_timeout is None
    assert not s.overload and not s.free_plan and s.batch_billing == "documented"
    for _ in range(80):
        assert c.v2("server.time")[0] == 200


# ---------------------------------------------------------------- leaky bucket

QLE = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}


def test_bucket_burst_refusal_and_drain(c):
    portal = c.portal
    portal.configure(rate_limit=(5, 2))
    assert [c.v2("server.time")[0] for _ in range(5)] == [200] * 5
    st, body = c.v2("server.time")
    assert st == 503 and body == QLE
    assert c.v3("tasks.task.list")[0] == 503          # the bucket is per IP, both addresses
    portal.advance_clock(1.0)                          # drains 2
    assert [c.v2("server.time")[0] for _ in range(3)] == [200, 200, 503]
    s = portal.stats()
    assert s["query_limit_exceeded"] == 3 and s["by_status"][503] == 3
    # a second webhook shares the IP's counter
    portal.add_webhook(2, "other")
    assert Client(portal, 2, "other").v2("server.time")[0] == 503
    portal.configure(rate_limit=None)
    assert c.v2("server.time")[0] == 200


def test_bucket_keyed_by_client_identity_header(c):
    """client_identity names a header: requests carrying it are counted per its value
    (several hosts behind one address); requests without it stay keyed by source IP."""
    portal = c.portal
    with pytest.raises(ValueError):
        portal.configure(client_identity="bad header")
    portal.configure(rate_limit=(3, 0.001), client_identity="X-Test-Host")
    a, b = {"X-Test-Host": "host-a"}, {"X-Test-Host": "host-b"}
    assert [c.v2("server.time", headers=a)[0] for _ in range(4)] == [200, 200, 200, 503]
    assert [c.v2("server.time", headers=b)[0] for _ in range(4)] == [200, 200, 200, 503]
    assert [c.v2("server.time")[0] for _ in range(4)] == [200, 200, 200, 503]   # source IP
    assert sorted(portal.limits_state()["bucket"]) == ["127.0.0.1", "host:host-a", "host:host-b"]
    # without the switch the header is ignored: one address, one counter
    portal.reset_limits()
    portal.configure(client_identity=None)
    assert [c.v2("server.time", headers=a)[0] for _ in range(2)] == [200, 200]
    assert [c.v2("server.time", headers=b)[0] for _ in range(2)] == [200, 503]


def test_bucket_plans_and_refused_count_switch(c):
    portal = c.portal
    portal.configure(rate_limit="standard")
    assert portal.settings.rate_limit == (50.0, 2.0)
    portal.configure(rate_limit="enterprise")
    assert portal.settings.rate_limit == (250.0, 5.0)
    portal.configure(rate_limit="3/1", rate_limit_count_refused=True)
    assert [c.v2("server.time")[0] for _ in range(6)] == [200, 200, 200, 503, 503, 503]
    portal.advance_clock(2.0)          # 6 - 2 = 4: still above 3 - 1
    assert c.v2("server.time")[0] == 503
    portal.advance_clock(4.0)          # 5 - 4 = 1
    assert c.v2("server.time")[0] == 200
    # without the switch refusals do not count: recovery after one unit drains
    portal.reset_limits()
    portal.configure(rate_limit_count_refused=False)
    assert [c.v2("server.time")[0] for _ in range(6)] == [200, 200, 200, 503, 503, 503]
    portal.advance_clock(1.0)
    assert c.v2("server.time")[0] == 200


def test_batch_is_one_request_for_the_bucket(c):
    portal = c.portal
    portal.configure(rate_limit=(2, 1))
    cmd = {f"c{i}": "server.time" for i in range(30)}
    st, body = c.v2("batch", {"cmd": cmd})
    assert st == 200 and len(body["result"]["result"]) == 30
    assert c.v2("server.time")[0] == 200
    assert c.v2("server.time")[0] == 503


# ---------------------------------------------------------------- operating budget

OTL = {"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked due to operation time limit."}


def test_operating_budget_refusal_and_recovery(c):
    portal = c.portal
    portal.configure(operating_limit=10, exec_time_per_call={"crm.deal.list": 4.0})
    ops = []
    for _ in range(3):
        st, body = c.v2("crm.deal.list")
        assert st == 200
        ops.append(body["time"]["operating"])
    assert 4 <= ops[0] < 4.5 and 8 <= ops[1] < 9 and 12 <= ops[2] < 13.5   # the crossing call completes
    reset_at = body["time"]["operating_reset_at"]
    assert reset_at - body["time"]["start"] == pytest.approx(600, abs=2)
    st, body = c.v2("crm.deal.list")
    assert st == 429 and body == OTL
    assert c.v2("crm.lead.list")[0] == 200                       # other methods keep working
    portal.add_webhook(3, "third")
    assert Client(portal, 3, "third").v2("crm.deal.list")[0] == 200   # other webhooks too
    assert portal.stats()["operation_time_limit"] == 1
    assert portal.operating("crm.deal.list")[0] >= 12
    portal.advance_clock(599)
    assert c.v2("crm.deal.list")[0] == 429
    portal.advance_clock(2)                                      # the buckets expired
    st, body = c.v2("crm.deal.list")
    assert st == 200 and 4 <= body["time"]["operating"] < 4.5


def test_operating_budget_with_time_scale_and_short_calls(c):
    portal = c.portal
    portal.configure(operating_limit=5, exec_time_per_call=0.05)
    for _ in range(5):                          # calls of 0.1 s or less are not recorded
        assert c.v2("crm.deal.list")[1]["time"]["operating"] == 0
    portal.configure(exec_time_per_call=3.0, time_scale=1000.0)
    assert c.v2("crm.deal.list")[0] == 200
    assert c.v2("crm.deal.list")[0] == 200
    assert c.v2("crm.deal.list")[0] == 429
    time.sleep(0.65)                             # 650 portal seconds
    assert c.v2("crm.deal.list")[0] == 200


def test_operating_on_v3_and_row_costs(c):
    portal = c.portal
    portal.configure(operating_limit=1, exec_time_per_row=0.1)
    st, body = c.v3("tasks.task.list", {"select": ["id"]})
    assert st == 200 and body["time"]["operating"] >= 0.2     # 2 tasks x 0.1 s + row cost
    portal.configure(exec_time_per_row=1.0)
    assert c.v3("tasks.task.list")[0] == 200
    st, body = c.v3("tasks.task.list")
    assert st == 429 and body == OTL                           # v2 shape (v3_system_error_shape)
    portal.configure(v3_system_error_shape="v3")
    st, body = c.v3("tasks.task.list")
    assert body["error"]["code"] == "BITRIX_REST_V3_EXCEPTION_OPERATION_TIME_LIMIT"


def test_counting_costs_more_than_start_minus_one(c):
    portal = c.portal
    portal.seed_demo(2000)
    counted = c.v2("crm.deal.list", {"select": ["ID"]})[1]["time"]["processing"]
    fast = c.v2("crm.deal.list", {"select": ["ID"], "start": -1})[1]["time"]["processing"]
    assert counted > fast
    portal.reset_limits()
    portal.configure(count_cost_per_row=1e-3)          # ~0.4 s per counted page
    body = c.v2("crm.deal.list", {"select": ["ID"]})[1]
    assert body["time"]["operating"] >= 0.4
    for _ in range(5):                                 # keyset pages: not recorded (<= 0.1 s)
        body = c.v2("crm.deal.list", {"select": ["ID"], "start": -1, "filter": {">ID": 100}})[1]
        assert "total" in body and body["total"] == 0
    assert body["time"]["operating"] == pytest.approx(portal.operating("crm.deal.list")[0])
    assert portal.operating("crm.deal.list")[0] < 0.5


def test_batch_billing_documented(c):
    portal = c.portal
    portal.configure(exec_time_per_call={"crm.deal.list": 2.0, "crm.lead.list": 1.0})
    st, body = c.v2("batch", {"cmd": ["crm.deal.list", "crm.deal.list", "crm.lead.list"]})
    assert st == 200
    times = body["result"]["result_time"]
    assert [round(t["operating"]) for t in times] == [2, 4, 1]   # each charged to its own method
    assert body["time"]["operating"] == 0                         # batch itself is not charged
    assert portal.operating("batch")[0] == 0
    assert 4 <= portal.operating("crm.deal.list")[0] < 5
    # inner calls are checked against their own limits
    portal.configure(operating_limit=5)
    st, body = c.v2("batch", {"cmd": {"a": "crm.deal.list", "b": "crm.deal.list", "c": "crm.lead.list"}})
    assert st == 200
    assert body["result"]["result_error"] == {"b": OTL}
    assert set(body["result"]["result"]) == {"a", "c"}


def test_batch_billing_observed(c):
    portal = c.portal
    portal.configure(batch_billing="observed", exec_time_per_call={"crm.deal.list": 2.0})
    st, body = c.v2("batch", {"cmd": ["crm.deal.list", "crm.deal.list", "crm.lead.list"]})
    assert st == 200
    ops = {t["operating"] for t in body["result"]["result_time"]}
    assert len(ops) == 1 and ops == {body["time"]["operating"]}   # all the same running total
    assert 4 <= body["time"]["operating"] < 5
    assert portal.operating("crm.deal.list")[0] == 0 and portal.operating("crm.lead.list")[0] == 0
    assert 4 <= portal.operating("batch")[0] < 5
    portal.configure(operating_limit=6)
    assert c.v2("batch", {"cmd": ["crm.deal.list"] * 2})[0] == 200   # 8.x s now
    st, body = c.v2("batch", {"cmd": ["server.time"]})
    assert st == 429 and body == OTL                                  # the whole batch refused
    assert c.v2("crm.deal.list")[0] == 200                            # a direct call is not


# ---------------------------------------------------------------- cut-off, overload, free plan

def test_request_cutoff_504_and_drop(c):
    portal = c.portal
    before = deals(c)
    portal.configure(request_timeout=60, exec_time_per_call={"crm.deal.add": 70.0})
    st, hd, body = c.raw("POST", f"/rest/1/{portal.secret}/crm.deal.add",
                         json.dumps({"fields": {"TITLE": "slow"}}), {"Content-Type": "application/json"})
    assert st == 504 and hd["content-type"].startswith("text/html") and b"504 Gateway Time-out" in body
    assert deals(c) == before + 1                 # the method ran, only the answer was lost
    portal.configure(request_timeout_mode="drop")
    with pytest.raises(NET_ERRORS):
        c.v2("crm.deal.add", {"fields": {"TITLE": "slow"}})
    assert deals(c) == before + 2
    assert portal.stats()["cutoffs"] == 2
    # a hang longer than the cut-off is cut at the cut-off (here 0.3 portal seconds)
    portal.configure(request_timeout=0.3, request_timeout_mode="504", exec_time_per_call=0.0)
    portal.inject("hang", method="server.time", delay=30)
    t = time.monotonic()
    st, _, _ = c.raw("GET", f"/rest/1/{portal.secret}/server.time")
    assert st == 504 and time.monotonic() - t < 5


def test_overload_and_free_plan(c):
    portal = c.portal
    portal.configure(overload=True)
    assert c.v2("server.time") == (503, {"error": "OVERLOAD_LIMIT",
                                         "error_description": "REST API is blocked due to overload."})
    assert c.v3("tasks.task.list")[0] == 503
    assert c.v2("no.such.method")[0] == 404            # method lookup still comes first
    portal.configure(overload=False, free_plan=True)
    assert c.v2("crm.deal.list") == (403, {"error": "ACCESS_DENIED",
                                           "error_description": "REST is available only on commercial plans."})
    portal.configure(free_plan=False)
    assert c.v2("server.time")[0] == 200
    s = portal.stats()
    assert s["overload_refused"] == 2 and s["free_plan_refused"] == 1


# ---------------------------------------------------------------- faults

def test_reset_before_runs_nothing(c):
    portal = c.portal
    before = deals(c)
    portal.inject("reset_before", method="crm.deal.add")
    with pytest.raises(NET_ERRORS):
        c.v2("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert deals(c) == before and portal.stats()["rows_created"] == {}
    assert c.v2("crm.deal.add", {"fields": {"TITLE": "x"}})[0] == 200
    assert portal.stats()["rows_created"] == {"crm_deal": 1}


def test_reset_after_runs_the_method(c):
    portal = c.portal
    before = deals(c)
    portal.inject("reset_after", method="crm.deal.add")
    with pytest.raises(NET_ERRORS) as ei:
        c.v2("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert deals(c) == before + 1
    assert portal.stats()["rows_created"] == {"crm_deal": 1}
    assert portal.stats()["requests"]["crm.deal.add"] == {0: 1}
    assert portal.stats()["faults_fired"] == {"reset_after": 1}
    assert ei.value is not None


def _tcp_outcome(p: EmulatorPortal, method: str) -> str:
    """TLS over a MemoryBIO, so the raw TCP socket shows an RST as
    ConnectionResetError (the ssl module folds it into a ragged EOF)."""
    import socket
    ctx = ssl.create_default_context(cafile=p.ca_path)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="127.0.0.1")
    raw = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    try:
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(out.read())
                inc.write(raw.recv(65536))
        raw.sendall(out.read())
        obj.write(f"GET /rest/1/{p.secret}/{method} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        raw.sendall(out.read())
        got = b""
        while True:
            d = raw.recv(65536)
            if not d:
                return "eof"
            got += d
    except ConnectionResetError:
        return "rst"
    finally:
        raw.close()


def test_resets_are_real_rsts():
    with EmulatorPortal() as p:
        p.inject("reset_after", method="server.time")
        assert _tcp_outcome(p, "server.time") == "rst"
        p.inject("reset_before", method="server.time")
        assert _tcp_outcome(p, "server.time") == "rst"
        p.configure(request_timeout=1, request_timeout_mode="drop",
                    exec_time_per_call={"server.time": 5})
        assert _tcp_outcome(p, "server.time") == "rst"


def test_truncated_body(c):
    portal = c.portal
    portal.inject("truncate", method="crm.deal.list", truncate_at=20)
    c.conn.request("POST", f"/rest/1/{portal.secret}/crm.deal.list")
    r = c.conn.getresponse()
    assert r.status == 200 and int(r.getheader("Content-Length")) > 20
    with pytest.raises(http.client.IncompleteRead) as ei:
        r.read()
    assert len(ei.value.partial) == 20
    c.conn.close()
    c.conn = c._new()
    assert c.v2("crm.deal.list")[0] == 200


def test_latency_and_html(c):
    portal = c.portal
    portal.inject("latency", method="server.time", delay=0.3)
    t = time.monotonic()
    assert c.v2("server.time")[0] == 200
    assert time.monotonic() - t >= 0.3
    portal.inject("html", method="server.time")
    st, hd, body = c.raw("GET", f"/rest/1/{portal.secret}/server.time")
    assert st == 502 and hd["content-type"] == "text/html" and b"502 Bad Gateway" in body


def _pattern(seed: int, fraction: float = 0.3, n: int = 30) -> list[int]:
    with EmulatorPortal(seed=seed) as p:
        p.inject("error500", method="server.time", fraction=fraction)
        cl = Client(p)
        out = [cl.v2("server.time")[0] for _ in range(n)]
        assert cl.v2("profile")[0] == 200              # other methods untouched
        cl.close()
        return out


def test_fraction_of_500s_is_deterministic():
    a, b, other = _pattern(7), _pattern(7), _pattern(8)
    assert a == b and a != other
    assert set(a) == {200, 500} and 3 <= a.count(500) <= 18


def test_fraction_with_count_and_500_body(c):
    portal = c.portal
    portal.inject("error500", fraction=1.0, count=2)
    assert c.v2("server.time") == (500, {"error": "INTERNAL_SERVER_ERROR",
                                         "error_description": "Internal server error"})
    assert c.v2("profile")[0] == 500
    assert c.v2("profile")[0] == 200
    assert portal.faults.pending() == []


# ---------------------------------------------------------------- idempotency (v3)

def test_idempotency_store_replay_reuse_invalid(c):
    portal = c.portal
    body = {"fields": {"title": "Idem"}}
    h = {"Idempotency-Key": "key-1"}
    st, hd, first = c.v3_raw("tasks.task.add", body, h)
    assert st == 200 and hd["idempotency-key"] == "key-1" and "idempotent-replayed" not in hd
    st, hd, again = c.v3_raw("tasks.task.add", {"fields": {"title": "Idem"}}, h)
    assert st == 200 and again == first
    assert hd["idempotent-replayed"] == "true" and hd["idempotency-key"] == "key-1"
    assert portal.stats()["rows_created"] == {"tasks": 1} and portal.stats()["idempotent_replays"] == 1
    st, hd, data = c.v3_raw("tasks.task.add", {"fields": {"title": "Other"}}, h)
    assert st == 422 and json.loads(data)["error"]["code"] == \
        "BITRIX_REST_V3_EXCEPTION_IDEMPOTENCYKEYREUSEDEXCEPTION"
    for bad in ("x" * 256, "tab\there"):
        st, body_ = c.v3("tasks.task.add", body, {"Idempotency-Key": bad})
        assert st == 400 and body_["error"]["code"] == "BITRIX_REST_V3_EXCEPTION_INVALIDIDEMPOTENCYKEYEXCEPTION"
    st, _ = c.v3("tasks.task.add", body, {"Idempotency-Key": "k" * 255})
    assert st == 200
    # another method, same key: its own scope
    st, hd, _ = c.v3_raw("crm.item.add", {"entityTypeId": 2, "fields": {"title": "D"}}, h)
    assert st == 200 and "idempotent-replayed" not in hd
    # 24 h later the key is forgotten
    portal.advance_clock(86401)
    st, hd, _ = c.v3_raw("tasks.task.add", body, h)
    assert st == 200 and "idempotent-replayed" not in hd
    assert portal.stats()["rows_created"] == {"tasks": 3, "crm_deal": 1}


def test_idempotency_failed_calls_not_stored_and_v2_ignored(c):
    portal = c.portal
    h = {"Idempotency-Key": "k2"}
    st, hd, _ = c.v3_raw("tasks.task.add", {"fields": {"description": "no title"}}, h)
    assert st == 400 and hd["idempotency-key"] == "k2"
    st, hd, _ = c.v3_raw("tasks.task.add", {"fields": {"title": "ok now"}}, h)
    assert st == 200 and "idempotent-replayed" not in hd
    before = deals(c)
    for _ in range(2):
        st, hd, _ = c.raw("POST", f"/rest/1/{portal.secret}/crm.deal.add",
                          json.dumps({"fields": {"TITLE": "v2"}}),
                          {"Content-Type": "application/json", **h})
        assert st == 200 and "idempotent-replayed" not in hd and "idempotency-key" not in hd
    assert deals(c) == before + 2
    # reads ignore the header
    st, hd, _ = c.v3_raw("tasks.task.list", {}, {"Idempotency-Key": "x" * 300})
    assert st == 200


# ---------------------------------------------------------------- admin endpoint and CLI

def test_admin_endpoint(c):
    portal = c.portal
    st, s = c.admin("GET", "settings")
    assert st == 200 and s["rate_limit"] is None and s["batch_billing"] == "documented"
    st, s = c.admin("POST", "settings", {"rate_limit": "4/1", "operating_limit": 480})
    assert st == 200 and s["rate_limit"] == [4.0, 1.0] and portal.settings.operating_limit == 480
    assert c.admin("POST", "settings", {"no_such_switch": 1})[0] == 400
    assert c.admin("POST", "settings", {"batch_billing": "sometimes"})[0] == 400
    for _ in range(5):
        c.v2("server.time")
    st, lim = c.admin("GET", "limits")
    assert st == 200 and lim["bucket"]["127.0.0.1"] == pytest.approx(4, abs=0.1)
    assert not any(portal.secret in k for k in lim["operating"])
    st, _ = c.admin("POST", "clock/advance", {"seconds": 10})
    assert st == 200 and c.v2("server.time")[0] == 200
    st, _ = c.admin("POST", "faults", {"kind": "error500", "method": "profile", "fraction": 1.0, "count": 1})
    assert st == 200 and c.admin("GET", "faults")[1][0]["fraction"] == 1.0
    assert c.v2("profile")[0] == 500
    st, stats = c.admin("GET", "stats")
    assert stats["query_limit_exceeded"] == 1 and stats["faults_fired"] == {"error500": 1}
    assert stats["by_status"]["503"] == 1
    assert c.admin("POST", "limits/reset")[0] == 200
    assert c.admin("POST", "reset")[0] == 200 and portal.stats()["total"] == 0


def test_cli_limit_flags():
    if subprocess.run([sys.executable, "-c", "import b24hook"], cwd=ROOT,
                      capture_output=True).returncode == 0:
        cmd = [sys.executable, "-m", "b24hook.emulator"]
    else:
        cmd = [sys.executable, "-c",
               ("import sys,types,runpy; m=types.ModuleType('b24hook'); m.__path__=[%r]; "
                "sys.modules['b24hook']=m; sys.argv[0]='b24hook.emulator'; "
                "runpy.run_module('b24hook.emulator', run_name='__main__', alter_sys=True)")
               % str(ROOT / "b24hook")]
    cmd += ["--rate-limit", "50/2", "--operating-limit", "480", "--batch-billing", "observed",
            "--request-timeout", "60", "--timeout-mode", "drop", "--exec-time-per-call", "0.5",
            "--fault", "error500,method=server.time,fraction=1,count=1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = {}
        deadline = time.monotonic() + 15
        while "CA certificate" not in lines and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            k, _, v = line.partition(": ")
            lines[k] = v.strip()
        u = urllib.parse.urlsplit(lines["v2 webhook"])
        conn = http.client.HTTPSConnection(u.hostname, u.port,
                                           context=ssl.create_default_context(cafile=lines["CA certificate"]))
        conn.request("GET", "/_emulator/settings")
        s = json.loads(conn.getresponse().read())
        assert s["rate_limit"] == [50.0, 2.0] and s["operating_limit"] == 480
        assert s["batch_billing"] == "observed" and s["request_timeout"] == 60
        assert s["request_timeout_mode"] == "drop" and s["exec_time_per_call"] == 0.5
        conn.request("GET", u.path + "server.time")
        r = conn.getresponse()
        r.read()
        assert r.status == 500
        conn.close()
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_in_flight_and_wait_idle() -> None:
    """stats()["in_flight"] counts requests being processed; wait_idle waits them out."""
    import threading
    import urllib.request
    import ssl

    from b24hook.emulator import EmulatorPortal

    with EmulatorPortal() as p:
        p.inject("latency", method="server.time", count=1, delay=0.6)
        ctx = ssl.create_default_context(cafile=p.ca_path)
        t = threading.Thread(target=lambda: urllib.request.urlopen(
            urllib.request.Request(p.v2_url + "/server.time", data=b"{}", method="POST",
                                   headers={"Content-Type": "application/json"}),
            context=ctx).read())
        t.start()
        deadline = time.monotonic() + 5
        while p.stats()["in_flight"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert p.stats()["in_flight"] == 1
        assert p.wait_idle(0.05) is False
        assert p.wait_idle(5) is True
        assert p.stats()["in_flight"] == 0
        t.join(5)
