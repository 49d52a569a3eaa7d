"""Leak probe (its own process): N calls through one B24Hook.

    python _leak_client.py URL CA_PATH N [flights|async]

With ``flights``, the calls go 10 at a time through ``Http.flights()`` (the
multi driver); every 7th round is closed after its first answers, with the
rest still in flight (the abandon path). With ``async``, each round is 10
tasks on one ``AsyncB24Hook`` (the asyncio driver): 8 calls, a v2 and a v3
list walk (the walk machine's step interface); every 7th round the 8 calls
are cancelled while they run (the cancel path).

Warms up, then measures RSS (/proc/self/statm), tracemalloc's traced size
and sys.getrefcount of the objects every call touches, at 20 checkpoints.
Prints one JSON line.  sys.gettotalrefcount exists only in debug builds of
CPython; when present it is sampled too.
"""
import asyncio
import gc
import json
import os
import sys
import time
import tracemalloc

from b24hook import AsyncB24Hook, B24Hook

url, ca, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
mode = sys.argv[4] if len(sys.argv) > 4 else "call"
page = os.sysconf("SC_PAGE_SIZE")


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page


method = "crm.item.get"
params = {"entityTypeId": 2, "id": 42}
# No client-side throttling: the leak probe wants raw call throughput.
fast = {"rate_limit": {"burst_limit": 10**9, "drain_rate": 10**9, "adaptive_enabled": False},
        "adaptive_config": {"enabled": False}, "max_retries": 1}
b24 = B24Hook.from_webhook_url(url, verify=ca, timeout=10, restriction_params=fast)
call = b24.actions.v2.call
http = b24.get_http_client("v2")


def one_round(k):
    """10 calls at once; every 7th round is closed after the first answers."""
    with http.flights() as f:
        for j in range(10):
            f.add(j, method, params)
        got = f.run()
        if k % 7 != 6:
            while f.active:
                got += f.run()
    return got[0][1]


if mode == "async":
    b24.close()
    b24 = AsyncB24Hook.from_webhook_url(url, verify=ca, timeout=10, restriction_params=fast)
    loop = asyncio.new_event_loop()


async def async_round(k):
    """10 tasks at once; every 7th round the 8 calls are cancelled mid-flight."""
    v2, v3 = b24.actions.v2, b24.actions.v3
    calls = [asyncio.ensure_future(v2.call.make(method, params)) for _ in range(8)]
    walks = await asyncio.gather(
        v2.call_list.make("crm.item.list", params, custom_key_for_result="ITEMS"),
        v3.call_list.make("crm.item.list", params, custom_key_for_result="ITEMS", limit=3))
    assert [len(w.get_data()) for w in walks] == [3, 3], walks
    if k % 7 == 6:
        for t in calls:
            t.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        return walks[0]
    return (await asyncio.gather(*calls))[0]


def make(i):
    if mode == "call":
        return call.make(method, params)
    if mode == "async":
        return loop.run_until_complete(async_round(i // 10))
    return one_round(i // 10)


for _ in range(2000 if mode == "call" else 200):  # warm-up: pools, caches, first connection
    make(_ * 10)
tracemalloc.start()
gc.collect()
samples = []
t0 = time.monotonic()
step = max(n // 20, 1)
for i in range(0, n, 1 if mode == "call" else 10):
    r = make(i)
    if i % 3 == 0:
        r.get_data()
    if i % step < (1 if mode == "call" else 10) or i >= n - (1 if mode == "call" else 10):
        del r
        gc.collect()
        samples.append({
            "i": i,
            "rss": rss(),
            "traced": tracemalloc.get_traced_memory()[0],
            "ref_hook": sys.getrefcount(b24),
            "ref_method": sys.getrefcount(method),
            "ref_params": sys.getrefcount(params),
            "ref_none": sys.getrefcount(None) if sys.version_info < (3, 12) else 0,
            "total_refs": sys.gettotalrefcount() if hasattr(sys, "gettotalrefcount") else None,
        })
took = time.monotonic() - t0
conns = getattr(getattr(b24.get_http_client("v2"), "_transport", None), "connections_opened", None)
if mode == "async":
    d = b24._drivers[next(iter(b24._drivers))][1]
    assert (d.active, d.sending) == (0, 0), (d.active, d.sending)
    loop.run_until_complete(b24.aclose())
    loop.close()
else:
    b24.close()
print(json.dumps({"n": n, "seconds": took, "samples": samples, "connections": conns}))
