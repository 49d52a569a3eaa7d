"""``python -m b24hook.emulator``: run a portal in the foreground until Ctrl-C."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType
from typing import Any


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m b24hook.emulator",
                                 description="Local Bitrix24 portal emulator (HTTPS)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--db", default=":memory:", help="SQLite file or :memory:")
    ap.add_argument("--seed-demo", type=int, default=0, metavar="N")
    ap.add_argument("--secret", default=None)
    ap.add_argument("--user-id", type=int, default=1)
    ap.add_argument("--ca-file", default=None, help="write the CA certificate here")
    ap.add_argument("--auth-status", type=int, choices=(401, 403), default=401,
                    help="HTTP status of INVALID_CREDENTIALS / insufficient_scope")
    ap.add_argument("--no-start-rounding", action="store_true",
                    help="use start as an exact offset instead of rounding to 50")
    g = ap.add_argument_group("limits (all off by default)")
    g.add_argument("--rate-limit", default=None, metavar="X/Y",
                   help="leaky bucket per client IP: X/Y, 'standard' (50/2) or 'enterprise' (250/5)")
    g.add_argument("--count-refused", action="store_true",
                   help="refused requests also raise the leaky-bucket counter")
    g.add_argument("--client-identity", default=None, metavar="HEADER",
                   help="key the leaky bucket by this request header's value when present "
                        "(several hosts behind one address); default: the source IP")
    g.add_argument("--operating-limit", type=float, default=None, metavar="S",
                   help="operating seconds per (webhook, method) in 10 min (cloud: 480)")
    g.add_argument("--exec-time-per-call", type=float, default=0.0, metavar="S",
                   help="simulated execution seconds added to every call")
    g.add_argument("--exec-time-per-row", type=float, default=0.0, metavar="S",
                   help="simulated execution seconds per row returned or written")
    g.add_argument("--time-scale", type=float, default=1.0, metavar="F",
                   help="the portal clock runs F times faster (ledger windows, bucket drain)")
    g.add_argument("--sleep", action="store_true", help="really sleep the simulated execution time")
    g.add_argument("--batch-billing", choices=("documented", "observed"), default="documented")
    g.add_argument("--request-timeout", type=float, default=None, metavar="S",
                   help="cut requests off after S portal seconds (cloud: 60)")
    g.add_argument("--timeout-mode", choices=("504", "drop"), default="504")
    g.add_argument("--overload", action="store_true", help="answer OVERLOAD_LIMIT (503) to every call")
    g.add_argument("--free-plan", action="store_true",
                   help="answer ACCESS_DENIED 'REST is available only on commercial plans.' (403)")
    g.add_argument("--fault", action="append", default=[], metavar="KIND[,key=value…]",
                   help="inject a fault, e.g. 'error500,fraction=0.1' or 'reset_after,method=crm.deal.add,count=2'")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")

    from . import EmulatorPortal
    portal = EmulatorPortal(db=args.db, seed_demo=args.seed_demo, host=args.host, port=args.port,
                            user_id=args.user_id, secret=args.secret, ca_path=args.ca_file,
                            auth_error_status=args.auth_status,
                            start_rounding=not args.no_start_rounding,
                            rate_limit=args.rate_limit,
                            rate_limit_count_refused=args.count_refused,
                            client_identity=args.client_identity,
                            operating_limit=args.operating_limit,
                            exec_time_per_call=args.exec_time_per_call,
                            exec_time_per_row=args.exec_time_per_row,
                            time_scale=args.time_scale,
                            sleep_simulated_cost=args.sleep,
                            batch_billing=args.batch_billing,
                            request_timeout=args.request_timeout,
                            request_timeout_mode=args.timeout_mode,
                            overload=args.overload, free_plan=args.free_plan)
    for spec in args.fault:
        kind, *pairs = spec.split(",")
        kw: dict[str, Any] = {}
        for pair in pairs:
            k, _, v = pair.partition("=")
            k = k.strip()
            if k in ("count", "status", "truncate_at"):
                kw[k] = int(v)
            elif k in ("delay", "fraction"):
                kw[k] = float(v)
            else:
                kw[k] = v
        portal.inject(kind.strip(), **kw)
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    portal.start()
    print(f"Bitrix24 emulator portal at {portal.origin}", flush=True)
    print(f"v2 webhook: {portal.v2_url}/", flush=True)
    print(f"v3 webhook: {portal.v3_url}/", flush=True)
    print(f"CA certificate: {portal.ca_path}", flush=True)
    print(f"stats: {portal.origin}/_emulator/stats   (Ctrl-C to stop)", flush=True)
    try:
        while not done.wait(0.2):
            pass
    finally:
        portal.stop()
        portal.store.close()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
