"""Concurrency (issue 6 item 5): 16 threads share one B24Hook.

Run by `make asan` / `make test` against the ASan+UBSan build as well.  The
C-level race check of the handle pool is `make tsan` (csrc/fuzz/stress_pool.c).
"""
from __future__ import annotations

import threading
from typing import Any

from b24hook import AjaxError, B24Hook

from . import _servers as S
from .test_leaks import fast_server  # noqa: F401 - fixture

THREADS = 16
FAST = {"rate_limit": {"burst_limit": 10**9, "drain_rate": 10**9, "adaptive_enabled": False},
        "adaptive_config": {"enabled": False}}


def _hammer(fn: Any, n: int) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def run(tid: int) -> None:
        start.wait()
        try:
            for i in range(n):
                fn(tid, i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors


def test_sixteen_threads_mixed_calls_against_the_emulator(portal):
    with B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path, timeout=30,
                                  restriction_params=FAST) as b24:
        made: list[Any] = []

        def one(tid: int, i: int) -> None:
            kind = (tid + i) % 6
            if kind == 0:
                made.append(b24.actions.v2.call.make(
                    "crm.deal.add", {"fields": {"TITLE": f"t{tid}-{i}"}}).get_data()["result"])
            elif kind == 1:
                assert "result" in b24.actions.v2.call.make("server.time").get_data()
            elif kind == 2:
                rows = b24.actions.v2.call_list.make("crm.deal.list", {"select": ["ID"]})
                assert isinstance(rows.get_data(), list)
            elif kind == 3:
                res = b24.actions.v2.batch.make([("server.time",),
                                                 ("crm.deal.list", {"select": ["ID"]})])
                assert res is not None
            elif kind == 4:
                try:
                    b24.actions.v2.call.make("no.such.method")
                except AjaxError as exc:
                    assert S.SECRET not in str(exc)
            else:
                assert b24.tools.ping.make() >= 0

        errors = _hammer(one, 6)
        assert not errors, errors[:3]
        assert len(made) == len(set(map(str, made)))  # every add got its own id


def test_sixteen_threads_hammer_one_pool(fast_server):  # noqa: F811
    url, ca = fast_server
    with B24Hook.from_webhook_url(url, verify=ca, timeout=30, restriction_params=FAST) as b24:
        def one(tid: int, i: int) -> None:
            r = b24.actions.v2.call.make("crm.item.get", {"id": i, "t": tid})
            assert r.get_data()["result"]["ID"] == "42"

        errors = _hammer(one, 150)
        assert not errors, errors[:3]
        conns = b24.get_http_client("v2")._transport.connections_opened
        assert 1 <= conns <= THREADS   # the pool reuses connections


def test_close_while_threads_call(fast_server):  # noqa: F811
    url, ca = fast_server
    b24 = B24Hook.from_webhook_url(url, verify=ca, timeout=30, restriction_params=FAST)
    closed_seen = threading.Event()

    def one(tid: int, i: int) -> None:
        if tid == 0 and i == 20:
            b24.close()
        try:
            b24.actions.v2.call.make("crm.item.get", {"id": i})
        except Exception as exc:  # noqa: BLE001 - only the clean closed error is allowed
            assert "closed" in str(exc).lower(), exc
            closed_seen.set()

    errors = _hammer(one, 60)
    assert not errors, errors[:3]
    assert closed_seen.is_set()
