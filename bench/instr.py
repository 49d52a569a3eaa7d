"""Workload 1d: user-space instructions per call, counted by callgrind.

CPU µs per call on this kind of VM swing 2-3x between runs minutes apart (the
hypervisor bills its own time to the running task; bench/profile_notes.md), so
the per-call targets of issue 10 are also measured in instructions, which are
exact and immune to the other processes' load. For each contestant and method:
``valgrind --tool=callgrind`` on the profiled loop of ``bench.profile_call`` (the
same nginx, TLS and answers as workload 1), once with N calls and once with 0
(the floor: 1, it always makes one), after the same warm-up; the figure per call
is (N run - baseline run) / (N - baseline), so start-up, imports and the warm-up
cancel out. ``PYTHONHASHSEED=0`` keeps the dict probes equal between the runs.
Kernel work (the socket, the scheduler) is not counted: callgrind sees user
space only.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from . import env, servers
from .env import log
from .profile_call import child_command

CLIENTS = [("floor", "C floor (libcurl + cJSON)"), ("b24hook", "b24hook `call.make`"),
           ("b24hook-core", "b24hook `_core.Transport.perform` (no Python layer)"),
           ("stdlib", "stdlib `http.client` keep-alive loop")]
METHODS = {"server.time": "server.time", servers.LIST_METHOD: "50-row page"}
#: calls per counted run (full mode, quick mode) and warm-up calls, per method
COUNTS = {"server.time": ((1000, 100), 200), servers.LIST_METHOD: ((100, 10), 20)}
_TOTALS = re.compile(rb"^(?:summary|totals):\s*(\d+)", re.M)


def _instructions(cmd: list[str], out: Path) -> int:
    proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
                          cwd=env.REPO, env=env.local_env(PYTHONHASHSEED="0"),
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
    m = _TOTALS.findall(out.read_bytes())
    if not m:
        raise RuntimeError(f"no instruction total in {out.name}")
    return int(m[-1])


def run(quick: bool) -> dict[str, Any]:
    """Instructions per call of every contestant on both methods; a contestant
    that fails gets ``{"error": text}`` in its cell."""
    if shutil.which("valgrind") is None:
        return {"skipped": "valgrind is missing (apt-get install valgrind)"}
    rows: dict[str, dict[str, Any]] = {}
    with servers.StaticTLS() as srv, tempfile.TemporaryDirectory(prefix="instr-", dir=env.CACHE) as tmp:
        for method in METHODS:
            (full_n, quick_n), warmup = COUNTS[method]
            n = quick_n if quick else full_n
            for key, label in CLIENTS:
                base = 1 if key == "floor" else 0
                try:
                    counts = [_instructions(child_command(srv, key, method, calls, warmup),
                                            Path(tmp) / f"{key}.{method}.{calls}")
                              for calls in (n, base)]
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    rows.setdefault(key, {"label": label})[method] = {"error": str(exc)}
                    continue
                rows.setdefault(key, {"label": label})[method] = {
                    "calls": n, "per_call": (counts[0] - counts[1]) / (n - base)}
            log(f"instructions per call: {METHODS[method]} done")
    return {"rows": rows, "methods": dict(METHODS), "quick": quick}
