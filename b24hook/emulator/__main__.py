"""``python -m b24hook.emulator``: run a portal in the foreground until Ctrl-C."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading


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
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")

    from . import EmulatorPortal
    portal = EmulatorPortal(db=args.db, seed_demo=args.seed_demo, host=args.host, port=args.port,
                            user_id=args.user_id, secret=args.secret, ca_path=args.ca_file,
                            auth_error_status=args.auth_status,
                            start_rounding=not args.no_start_rounding)
    done = threading.Event()

    def on_signal(signum, frame):  # noqa: ARG001
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
