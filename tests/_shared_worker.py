"""One worker process of tests/test_shared_limiter.py (run as a script).

Reads the webhook URL from ``B24_WEBHOOK_URL`` (never argv: no secret in a
process list) and the CA path from ``B24HOOK_CA_BUNDLE``; ``--shared`` is the
restriction param (``none`` for the in-process limiter). Modes:

- ``sync``: ``--threads`` threads, each ``--calls`` ``server.time`` calls;
- ``async``: an ``AsyncB24Hook`` running ``--threads`` tasks the same way;
- ``hold``: take the host-wide bucket's lock through the test-only seam
  ``Limiter._hold_shared_lock``, print ``held`` and wait to be SIGKILLed.

Prints one JSON line: calls ok / failed, error codes, the limiter's backend
names and the shared lock's recovered-owner count.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from typing import Any

from b24hook import AsyncB24Hook, B24Hook
from b24hook._errors import AjaxError


def _params(shared: str) -> dict[str, Any]:
    return {"shared": None if shared == "none" else shared}


def _report(http: Any, ok: int, failed: int, codes: dict[str, int], wall: float) -> None:
    st = http.get_stats()
    print(json.dumps({"ok": ok, "failed": failed, "codes": codes, "wall": wall,
                      "backend": st["limiter_backend"],
                      "repairs": http.restriction.limiter._shared_repairs()}), flush=True)


def run_sync(url: str, shared: str, threads: int, calls: int) -> None:
    b24 = B24Hook.from_webhook_url(url, restriction_params=_params(shared))
    lock = threading.Lock()
    tally = {"ok": 0, "failed": 0}
    codes: dict[str, int] = {}

    def work() -> None:
        for _ in range(calls):
            try:
                b24.actions.v2.call.make("server.time")
                key = "ok"
            except AjaxError as e:
                key = "failed"
                with lock:
                    codes[e.code] = codes.get(e.code, 0) + 1
            with lock:
                tally[key] += 1

    start = time.monotonic()
    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    _report(b24.get_http_client("v2"), tally["ok"], tally["failed"], codes, time.monotonic() - start)
    b24.close()


async def _run_async(url: str, shared: str, tasks: int, calls: int) -> None:
    tally = {"ok": 0, "failed": 0}
    codes: dict[str, int] = {}
    async with AsyncB24Hook.from_webhook_url(url, restriction_params=_params(shared)) as b24:
        async def work() -> None:
            for _ in range(calls):
                try:
                    await b24.actions.v2.call.make("server.time")
                    tally["ok"] += 1
                except AjaxError as e:
                    tally["failed"] += 1
                    codes[e.code] = codes.get(e.code, 0) + 1

        start = time.monotonic()
        await asyncio.gather(*(work() for _ in range(tasks)))
        _report(b24.get_http_client("v2"), tally["ok"], tally["failed"], codes, time.monotonic() - start)


def hold(url: str, shared: str) -> None:
    b24 = B24Hook.from_webhook_url(url, restriction_params=_params(shared))
    b24.get_http_client("v2").restriction.limiter._hold_shared_lock()
    print("held", flush=True)
    time.sleep(120)  # the test SIGKILLs this process while it holds the lock
    sys.exit(3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("sync", "async", "hold"))
    ap.add_argument("--shared", default="host")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--calls", type=int, default=5)
    a = ap.parse_args()
    url = os.environ["B24_WEBHOOK_URL"]
    if a.mode == "sync":
        run_sync(url, a.shared, a.threads, a.calls)
    elif a.mode == "async":
        asyncio.run(_run_async(url, a.shared, a.threads, a.calls))
    else:
        hold(url, a.shared)


if __name__ == "__main__":
    main()
