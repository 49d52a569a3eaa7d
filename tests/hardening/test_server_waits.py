"""The server never controls an unbounded wait (issue 9 item 3).

A portal (or a proxy, or a server clock hours ahead) that reports an
``operating_reset_at`` far in the future, or absurdly large, must not make the
next call sleep until then: the reset is treated as unknown and the limiter
waits its documented short time (5 s when blocked), then sends.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import trustme

from b24hook import B24Hook

from . import _servers as S


def _answer(reset_at: Any) -> bytes:
    # 479 s of the 480 s budget used: the method is blocked until the reset
    return json.dumps({"result": {"ok": True},
                       "time": {"start": time.time(), "finish": time.time(), "duration": 0.01,
                                "processing": 0.01, "operating": 479.0,
                                "operating_reset_at": reset_at}}).encode()


@pytest.mark.parametrize("what", ["1e308", "a year ahead", "clock skew of an hour"])
def test_an_implausible_reset_time_means_a_short_wait(ca: trustme.CA, ca_path: str, what: str) -> None:
    reset = {"1e308": 1e308, "a year ahead": time.time() + 365 * 86400,
             "clock skew of an hour": time.time() + 3600}[what]
    srv = S.TLSServer(S.fixed(_answer(reset)), ca.issue_cert("127.0.0.1"))
    try:
        with B24Hook.from_webhook_url(srv.url(), verify=ca_path, timeout=10,
                                      restriction_params={"max_retries": 1}) as b24:
            assert b24.actions.v2.call.make("crm.item.get", {"id": 1}).is_success
            done: dict[str, Any] = {}

            def second() -> None:
                t0 = time.monotonic()
                done["res"] = b24.actions.v2.call.make("crm.item.get", {"id": 1})
                done["s"] = time.monotonic() - t0

            th = threading.Thread(target=second, daemon=True)
            th.start()
            th.join(20)
            assert not th.is_alive(), f"{what}: the second call is still waiting"
            assert done["res"].is_success
            # blocked -> the short wait (5 s), not the server's reset time
            assert 3.0 <= done["s"] < 15.0, done["s"]
            assert srv.requests == 2
    finally:
        srv.stop()
