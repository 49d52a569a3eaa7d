"""One Python contestant, run in its own process (``python -m bench.py_runner SPEC``).

SPEC is JSON: ``{"task": "percall"|"export", "client": ..., "url": <v2 webhook base>,
"ca": <CA file>, ...}``. Prints one JSON line with the measurement:

* percall: ``{"calls", "ok", "wall", "cpu"}`` — ``n`` sequential calls of
  ``method`` (default ``server.time``) with ``params`` (default none) (or ``n`` split over ``threads`` threads sharing one client) after a
  short untimed warm-up; ``cpu`` is user+sys of this process over the timed part.
* async: ``{"calls", "ok", "wall", "cpu"}`` — ``n`` calls of server.time with
  ``concurrency`` in flight on one async client (``b24hook-async``,
  ``fast_bitrix24-async``).
* export:  ``{"rows", "wall", "cpu", "rss0_kb", "rss_kb"}`` — every contact of
  ``crm.item.list`` (entityTypeId 3); ``collect`` keeps them in a list (the peers'
  way), otherwise they are counted and dropped as they stream. ``rss0_kb`` is the
  peak RSS before the pull, ``rss_kb`` after it (VmHWM).
* writes: ``{"answers", "wall", "cpu"}`` — ``n`` ``crm.item.add`` (contacts) through
  the client's batch write path (``tag`` names the items).
"""
from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

ENTITY = 3
UNLIMITED_PY = {
    "rate_limit": {"burst_limit": 1e9, "drain_rate": 1e9, "adaptive_enabled": False},
    "operating_limit": {"window_ms": 600_000, "limit_ms": 10**12, "heavy_percent": 100},
    "adaptive_config": {"enabled": False},
}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _maxrss() -> int:
    """Peak RSS of this process in kB: VmHWM of /proc/self/status (ru_maxrss on
    Linux carries the forking parent's peak across exec, so it is not used)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _b24hook(spec: dict[str, Any]) -> Any:
    from b24hook import B24Hook

    kw: dict[str, Any] = {"verify": spec["ca"]}
    if not spec.get("limits", False):
        kw["restriction_params"] = UNLIMITED_PY
    elif spec.get("operating_limit_s"):
        # a scaled-down budget (the quick bench): the client is told the portal's limit
        kw["restriction_params"] = {"operating_limit": {"limit_ms": int(spec["operating_limit_s"] * 1000)}}
    try:
        return B24Hook.from_webhook_url(spec["url"], **kw)
    except (TypeError, ValueError):
        kw.pop("restriction_params", None)
        return B24Hook.from_webhook_url(spec["url"], **kw)


def _pysdk_client(spec: dict[str, Any]) -> Any:
    import os

    from b24pysdk import BitrixWebhook, Client

    os.environ["REQUESTS_CA_BUNDLE"] = spec["ca"]
    parts = urlsplit(spec["url"])
    _, uid, secret = parts.path.strip("/").split("/")
    return Client(BitrixWebhook(domain=parts.netloc, webhook_token=f"{uid}/{secret}"))


def _fast_bitrix(spec: dict[str, Any]) -> Any:
    import logging
    import os

    os.environ["SSL_CERT_FILE"] = spec["ca"]
    logging.getLogger("fast_bitrix24").setLevel(logging.ERROR)
    from fast_bitrix24 import Bitrix

    if spec.get("limits", False):
        return Bitrix(spec["url"] + "/", verbose=False)
    # limits off: its own bucket wide open (respect_velocity_policy=False crashes
    # in 1.8.14 on answers carrying time.operating: KeyError in srh.py)
    return Bitrix(spec["url"] + "/", verbose=False, request_pool_size=1_000_000, requests_per_second=1e9)


# --------------------------------------------------------------------------- per call


def percall_factory(spec: dict[str, Any]) -> tuple[Callable[[], bool], Callable[[], None]]:
    """(call, close) for one client; call() returns True when the answer had a result."""
    client, url, ca = spec["client"], spec["url"], spec["ca"]
    method = spec.get("method") or "server.time"
    params = spec.get("params") or None
    target = f"{url}/{method}"
    if client == "b24hook":
        b24 = _b24hook(spec)
        make = b24.actions.v2.call.make
        if params is None:
            def call() -> bool:
                return make(method=method).get_data()["result"] is not None
        else:
            def call() -> bool:
                return make(method=method, params=params).get_data()["result"] is not None
        return call, b24.destroy
    if client == "b24hook-core":
        from b24hook import _core

        t = _core.Transport(url, url.rsplit("/", 1)[1], verify=ca, user_agent="bench", sdk_type="bench",
                            sdk_version="0")
        perform = t.perform

        def call() -> bool:
            return perform(method, params, "r").answer["result"] is not None
        return call, t.close
    if client == "stdlib":
        # the best plain-Python client with only the standard library: one
        # keep-alive HTTPSConnection (http.client sets TCP_NODELAY and sends the
        # headers and a bytes body in one send), json.dumps body, json.loads answer
        import http.client
        import ssl

        parts = urlsplit(target)
        conn = http.client.HTTPSConnection(parts.hostname, parts.port,
                                           context=ssl.create_default_context(cafile=ca))
        path = parts.path
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        payload = params or {}
        dumps, loads = json.dumps, json.loads

        def call() -> bool:
            conn.request("POST", path, dumps(payload).encode(), headers)
            resp = conn.getresponse()
            answer = loads(resp.read())
            return resp.status == 200 and answer["result"] is not None
        return call, conn.close
    if client == "requests":
        import requests

        s = requests.Session()
        s.verify = ca
        s.trust_env = False

        def call() -> bool:
            return s.post(target, json=params or {}).json()["result"] is not None
        return call, s.close
    if client == "httpx":
        import httpx

        h = httpx.Client(verify=ca, trust_env=False)

        def call() -> bool:
            return h.post(target, json=params or {}).json()["result"] is not None
        return call, h.close
    if client == "b24pysdk":
        c = _pysdk_client(spec)

        def call() -> bool:
            return c.server.time().result is not None
        return call, lambda: None
    if client == "fast_bitrix24":
        b = _fast_bitrix(spec)

        def call() -> bool:
            return b.call("server.time", raw=True) is not None
        return call, lambda: None
    raise SystemExit(f"unknown client {client}")


def percall(spec: dict[str, Any]) -> dict[str, Any]:
    call, close = percall_factory(spec)
    n, threads = int(spec["n"]), int(spec.get("threads", 1))
    for _ in range(min(20, n)):       # warm-up: connection(s), TLS, imports
        call()
    ok = [0] * threads

    def work(i: int, count: int) -> None:
        good = 0
        for _ in range(count):
            if call():
                good += 1
        ok[i] = good

    c0, t0 = _cpu(), time.perf_counter()
    if threads == 1:
        work(0, n)
    else:
        ths = [threading.Thread(target=work, args=(i, n // threads + (i < n % threads))) for i in range(threads)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    close()
    return {"calls": n, "ok": sum(ok), "wall": wall, "cpu": cpu}


# --------------------------------------------------------------------------- async


def async_calls(spec: dict[str, Any]) -> dict[str, Any]:
    """``n`` calls of server.time with ``concurrency`` in flight on one async client
    (workers awaiting their calls in turn, as the JS runner's promises), after an
    untimed warm-up of ``concurrency`` calls at once (connections, TLS, imports)."""
    import asyncio
    import os

    client = spec["client"]
    n, conc = int(spec["n"]), int(spec.get("concurrency", 100))

    async def main() -> dict[str, Any]:
        if client == "b24hook-async":
            from b24hook import AsyncB24Hook

            b24 = AsyncB24Hook.from_webhook_url(spec["url"], verify=spec["ca"],
                                                restriction_params=UNLIMITED_PY)
            make = b24.actions.v2.call.make

            async def call() -> bool:
                return (await make(method="server.time")).get_data()["result"] is not None

            close = b24.aclose
        elif client == "fast_bitrix24-async":
            import logging

            os.environ["SSL_CERT_FILE"] = spec["ca"]
            logging.getLogger("fast_bitrix24").setLevel(logging.ERROR)
            from fast_bitrix24 import BitrixAsync

            b = BitrixAsync(spec["url"] + "/", verbose=False, request_pool_size=1_000_000,
                            requests_per_second=1e9)

            async def call() -> bool:
                return await b.call("server.time", raw=True) is not None

            async def close() -> None:
                return None
        else:
            raise SystemExit(f"unknown async client {client}")
        await asyncio.gather(*[call() for _ in range(min(conc, n))])
        ok = [0] * conc

        async def work(i: int, count: int) -> None:
            for _ in range(count):
                if await call():
                    ok[i] += 1

        c0, t0 = _cpu(), time.perf_counter()
        await asyncio.gather(*[work(i, n // conc + (i < n % conc)) for i in range(conc)])
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        await close()
        return {"calls": n, "ok": sum(ok), "wall": wall, "cpu": cpu}

    return asyncio.run(main())


# --------------------------------------------------------------------------- export


def _chunks_to_rows(chunks: Iterable[Any]) -> Iterable[Any]:
    for chunk in chunks:
        if isinstance(chunk, list):
            yield from chunk
        else:
            yield chunk


def export_rows(spec: dict[str, Any]) -> Callable[[], Iterable[Any]]:
    """Build the client, return the pull (so the client's imports are not counted as the pull's memory)."""
    client = spec["client"]
    select = spec.get("select") or ["*"]
    flt = {"<=id": int(spec["max_id"])} if spec.get("max_id") else {}
    base = {"entityTypeId": ENTITY, "select": select, **({"filter": flt} if flt else {})}
    if client == "b24hook-fetch_list":
        b24 = _b24hook(spec)
        fl = b24.actions.v2.fetch_list
        return lambda: _chunks_to_rows(fl.make(method="crm.item.list",
                                               params=base,
                                               id_key="id", custom_key_for_result="items"))
    if client == "b24hook-call_list":
        b24 = _b24hook(spec)
        return lambda: b24.actions.v2.call_list.make(
            method="crm.item.list", params=base,
            id_key="id", custom_key_for_result="items").get_data()
    if client == "b24hook-fast":
        # the fast export (lists issue); the callable is found by bench/contestants.py
        b24 = _b24hook(spec)
        obj: Any = b24
        for part in spec["fast_path"].split("."):
            obj = getattr(obj, part)
        kw = dict(spec.get("fast_kwargs") or {})
        return lambda: _chunks_to_rows(obj(method="crm.item.list",
                                           params=base, **kw))
    if client == "b24hook-planned":
        # the planned export (issue 12) with explicit arguments: shards, resume, a kill
        b24 = _b24hook(spec)
        kw = {"fast": True, "id_key": "id", "custom_key_for_result": "items"}
        if spec.get("shards"):
            kw["shards"] = int(spec["shards"])
        if spec.get("resume"):
            kw["resume"] = spec["resume"]
        stop_at = spec.get("kill_at")

        def planned() -> Iterable[Any]:
            n = 0
            t0 = time.perf_counter()
            for chunk in b24.actions.v2.fetch_list.make("crm.item.list", base, **kw):
                if stop_at is not None and n >= stop_at:
                    # a kill: no cleanup, the checkpoint file is what the last chunk left
                    sys.stdout.write(json.dumps({"rows": n, "killed": True, "wall": time.perf_counter() - t0,
                                                 "cpu": 0.0, "rss0_kb": 0, "rss_kb": 0, "distinct": None})
                                     + "\n")
                    sys.stdout.flush()
                    os._exit(0)
                n += len(chunk)
                yield from chunk
        return planned
    if client == "b24hook-loop":
        # hand-written keyset walk with call.make (used until fetch_list exists)
        b24 = _b24hook(spec)

        def walk() -> Iterable[Any]:
            last = 0
            while True:
                res = b24.actions.v2.call.make(method="crm.item.list", params={
                    "entityTypeId": ENTITY, "select": select, "order": {"id": "ASC"},
                    "filter": {**flt, ">id": last}, "start": -1})
                if not res.is_success:
                    raise RuntimeError(f"crm.item.list failed: {res.get_error_messages()}")
                items = res.get_data()["result"]["items"]
                yield from items
                if len(items) < 50:
                    return
                last = items[-1]["id"]
        return walk
    if client == "b24pysdk":
        c = _pysdk_client(spec)
        return lambda: c.crm.item.list(entity_type_id=ENTITY, select=select,
                                       **({"filter": flt} if flt else {})).as_list_fast().result
    if client == "fast_bitrix24":
        b = _fast_bitrix(spec)
        return lambda: b.get_all("crm.item.list", base)
    raise SystemExit(f"unknown export client {client}")


def export(spec: dict[str, Any]) -> dict[str, Any]:
    pull = export_rows(spec)
    rss0 = _maxrss()
    c0, t0 = _cpu(), time.perf_counter()
    rows = pull()
    if spec.get("collect"):
        rows = list(rows)
        n = len(rows)
        ids = {r.get("id", r.get("ID")) if isinstance(r, dict) else None for r in rows}
        distinct = len(ids)
    else:
        n = 0
        for _ in rows:
            n += 1
        distinct = None
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"rows": n, "distinct": distinct, "wall": wall, "cpu": cpu, "rss0_kb": rss0, "rss_kb": _maxrss()}


# --------------------------------------------------------------------------- writes


def writes(spec: dict[str, Any]) -> dict[str, Any]:
    """``n`` ``crm.item.add`` of contacts named ``<tag>:<i>`` through the client's batch
    write path; ``answers`` is how many results the client handed back (the items
    actually written are counted in the emulator's store by bench/planner.py)."""
    client, n, tag = spec["client"], int(spec["n"]), spec["tag"]
    fields = [{"name": f"{tag}:{i}"} for i in range(n)]
    if client == "b24hook-batch_by_chunk":
        b24 = _b24hook(spec)
        b24.set_logger(None)
        cmds = [("crm.item.add", {"entityTypeId": ENTITY, "fields": f}) for f in fields]

        def job() -> int:
            res = b24.actions.v2.batch_by_chunk.make(cmds, is_halt_on_error=False)
            if not res.is_success:
                raise RuntimeError(f"batch_by_chunk failed: {res.get_error_messages()[:3]}")
            return len(res.get_data())
    elif client == "fast_bitrix24":
        b = _fast_bitrix(spec)

        def job() -> int:
            return len(b.call("crm.item.add", [{"entityTypeId": ENTITY, "fields": f} for f in fields]))
    elif client == "b24pysdk":
        c = _pysdk_client(spec)

        def job() -> int:
            reqs = [c.crm.item.add(entity_type_id=ENTITY, fields=f) for f in fields]
            return len(c.call_batches(reqs).result.result)
    else:
        raise SystemExit(f"unknown writes client {client}")
    c0, t0 = _cpu(), time.perf_counter()
    answers = job()
    return {"answers": answers, "wall": time.perf_counter() - t0, "cpu": _cpu() - c0}


def main() -> None:
    spec = json.loads(sys.argv[1])
    task = spec["task"]
    out = (percall(spec) if task == "percall" else async_calls(spec) if task == "async"
           else writes(spec) if task == "writes" else export(spec))
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
