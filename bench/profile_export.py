"""Timeline of the planned export (issue 12) as the emulator sees it.

``python -m bench.profile_export [--rows 20000] [--client b24hook-planned]`` starts the
bench's emulator in this process (standard limits, 100 ms per page, ``--sleep``), runs one
contestant in its own process (as ``bench/planner.py`` does) and prints, per request: when
its handler started and ended (seconds from the client's start), the wall time of the
batch's commands, the seconds slept and asked, the thread CPU of the commands and of the
encoding, the wall time of the encoding and of the write, and the answer's size; then the
kernel's listen-queue overflows during the run. The emulator is instrumented by wrapping
its methods here; nothing in it changes. Run it under ``py-spy record --format raw -- ...``
for a sampled profile of the emulator's threads. Findings: bench/profile_notes.md.
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

from b24hook.emulator import dispatch as D
from b24hook.emulator import server as S

from . import contestants as C
from . import planner, servers

_tl = threading.local()
_events: list[dict[str, float]] = []
_lock = threading.Lock()
_t0 = [0.0]


def _listen_overflows() -> int:
    with open("/proc/net/netstat", encoding="ascii") as f:
        lines = f.read().splitlines()
    for head, vals in zip(lines[::2], lines[1::2]):
        names, nums = head.split(), vals.split()
        if "ListenOverflows" in names:
            return int(nums[names.index("ListenOverflows")])
    return 0


def _instrument() -> None:
    execute, sleep, encode = D.Dispatcher.execute, D.Dispatcher._sleep, D.json_response
    handle, write = S._Handler._handle, S._Handler._write

    def add(name: str, v: float) -> None:
        setattr(_tl, name, getattr(_tl, name, 0.0) + v)

    def w_execute(self: Any, webhook: Any, spec: Any, *a: Any, **k: Any) -> Any:
        if spec.name == "batch":
            return execute(self, webhook, spec, *a, **k)
        c, w = time.thread_time(), time.perf_counter()
        try:
            return execute(self, webhook, spec, *a, **k)
        finally:
            add("sub_cpu", time.thread_time() - c)
            add("sub_wall", time.perf_counter() - w)

    def w_sleep(self: Any, wait: float, carry: Any) -> None:
        w = time.perf_counter()
        sleep(self, wait, carry)
        add("slept", time.perf_counter() - w)
        add("asked", wait)

    def w_encode(*a: Any, **k: Any) -> Any:
        c, w = time.thread_time(), time.perf_counter()
        resp = encode(*a, **k)
        add("enc_cpu", time.thread_time() - c)
        add("enc_wall", time.perf_counter() - w)
        add("size", len(resp.body))
        return resp

    def w_write(self: Any, resp: Any) -> None:
        w = time.perf_counter()
        write(self, resp)
        add("write", time.perf_counter() - w)

    def w_handle(self: Any) -> None:
        _tl.__dict__.clear()
        t, c = time.perf_counter() - _t0[0], time.thread_time()
        handle(self)
        ev = {"start": t, "end": time.perf_counter() - _t0[0], "cpu": time.thread_time() - c, **_tl.__dict__}
        with _lock:
            _events.append(ev)

    D.Dispatcher.execute = w_execute          # type: ignore[method-assign]
    D.Dispatcher._sleep = w_sleep             # type: ignore[method-assign]
    D.json_response = w_encode
    S._Handler._write = w_write               # type: ignore[method-assign]
    for verb in ("do_GET", "do_POST", "_handle"):
        setattr(S._Handler, verb, w_handle)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--client", default="b24hook-planned",
                    choices=["b24hook-planned", "fast_bitrix24", "b24pysdk"])
    a = ap.parse_args()
    who = {"b24hook-planned": planner.PLANNED, "fast_bitrix24": planner.PEERS[0], "b24pysdk": planner.PEERS[1]}
    _instrument()
    portal = servers.emulator(a.rows)
    try:
        planner._configure(portal, 0.1, 1.0, 480.0, "documented")
        servers.quiet(portal)
        spec = {"task": "export", "url": portal.v2_url, "ca": portal.ca_path, "max_id": a.rows,
                "limits": True, "collect": True, "select": ["*"]}
        lo = _listen_overflows()
        _t0[0] = time.perf_counter()
        res = C.run(who[a.client], spec, timeout=300)
        print(json.dumps(res))
        print(f"requests {len(_events)}, listen overflows during the run {_listen_overflows() - lo}")
        g = lambda e, k: e.get(k, 0.0)
        for e in sorted(_events, key=lambda e: e["start"]):
            print(f"{e['start']:6.3f} -> {e['end']:6.3f}  commands {g(e, 'sub_wall'):5.3f} s "
                  f"(slept {g(e, 'slept'):5.3f} of {g(e, 'asked'):5.3f}, cpu {g(e, 'sub_cpu'):5.3f})  "
                  f"encode {g(e, 'enc_wall'):5.3f} (cpu {g(e, 'enc_cpu'):5.3f})  write {g(e, 'write'):5.3f}  "
                  f"thread cpu {e['cpu']:5.3f}  {int(g(e, 'size')):,} B")
        print(f"emulator thread cpu {sum(e['cpu'] for e in _events):.3f} s: commands "
              f"{sum(g(e, 'sub_cpu') for e in _events):.3f}, encoding {sum(g(e, 'enc_cpu') for e in _events):.3f}")
    finally:
        portal.stop()


if __name__ == "__main__":
    main()
