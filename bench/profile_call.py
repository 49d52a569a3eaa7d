"""Profile one contestant's per-call loop against the bench's static nginx server.

    python -m bench.profile_call [--client b24hook] [--method server.time|crm.item.list]
                                 [--calls 2000] [--warmup 200] [--wrap "COMMAND ..."]

Starts the nginx of workload 1 (bench/servers.py, the same TLS keep-alive server
and answers as ``python -m bench``), then runs ``[*WRAP, python, -m,
bench.profile_call, --child, SPEC]`` in which the contestant (any client of
bench/py_runner.py) makes ``--warmup`` untimed calls and then ``--calls`` calls.
WRAP is the profiler, e.g.::

    # instructions (valgrind from Debian), per call = (run with N calls - run with 0) / N
    python -m bench.profile_call --calls 2000 \\
        --wrap "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.2000"
    python -m bench.profile_call --calls 0 \\
        --wrap "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.0"
    callgrind_annotate --inclusive=no /tmp/cg.2000 | head -60

    # sampled CPU incl. the kernel (perf from Debian linux-perf; cpu-clock works in VMs
    # where the hardware counters are not exposed)
    python -m bench.profile_call --calls 20000 --wrap "perf record -e cpu-clock -F 5000 -o /tmp/perf.data"
    perf report -i /tmp/perf.data --sort dso --stdio

The child prints one JSON line (calls, ok, cpu seconds over the measured part).
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time

from . import env, servers


def child(spec: dict) -> None:
    from .py_runner import _cpu, percall_factory

    call, close = percall_factory(spec)
    for _ in range(spec["warmup"]):
        call()
    ok = 0
    c0, t0 = _cpu(), time.perf_counter()
    for _ in range(spec["n"]):
        ok += bool(call())
    out = {"calls": spec["n"], "ok": ok, "cpu": _cpu() - c0, "wall": time.perf_counter() - t0}
    close()
    print(json.dumps(out), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.profile_call", description=__doc__.splitlines()[0])
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--client", default="b24hook",
                    help="a py_runner client (b24hook, b24hook-core, stdlib, ...) or floor (the C floor; it makes "
                         "one warm-up call and at least one call, so take its baseline with --calls 1)")
    ap.add_argument("--method", default="server.time", choices=["server.time", servers.LIST_METHOD])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--wrap", default="", help="profiler command line to run the child under")
    args = ap.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    env.setup_nginx()
    with servers.StaticTLS() as srv:
        cmd = [*shlex.split(args.wrap), *child_command(srv, args.client, args.method, args.calls, args.warmup)]
        proc = subprocess.run(cmd, cwd=env.REPO, env=env.local_env())
    return proc.returncode


def child_command(srv: servers.StaticTLS, client: str, method: str, calls: int, warmup: int) -> list[str]:
    """The command line of one profiled loop: ``client`` (a py_runner client, or
    ``floor``) making ``warmup`` untimed and then ``calls`` calls of ``method``
    against ``srv``."""
    params = servers.LIST_PARAMS if method == servers.LIST_METHOD else None
    if client == "floor":
        env.build_floor()
        return [str(env.FLOOR_BIN), f"{srv.v2_url}/{method}", str(max(calls, 1)), "1", srv.ca_path,
                json.dumps(params or {}, separators=(",", ":"))]
    spec = {"task": "percall", "client": client, "url": srv.v2_url, "ca": srv.ca_path,
            "method": method, "params": params, "n": calls, "warmup": warmup}
    return [sys.executable, "-m", "bench.profile_call", "--child", json.dumps(spec)]


if __name__ == "__main__":
    sys.exit(main())
