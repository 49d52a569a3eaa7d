"""A guided tour of b24hook against the embedded emulator portal.

Run it with ``make demo`` (which also does the set-up) or
``python -m b24hook.demo``. Nothing leaves 127.0.0.1: the emulator is a real
HTTPS server with its own certificate authority and a SQLite store.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from b24hook import AjaxError, B24Hook, redact_sensitive_url
from b24hook.emulator import EmulatorPortal


def _title(text: str) -> None:
    print()
    print(text)
    print("-" * len(text))


def _masked(url: str, secret: str) -> str:
    # The webhook URL carries a secret: never print it whole.
    return url.replace(secret, secret[:3] + "…")


def run(seed: int = 20000, verbose: bool = False) -> int:
    with EmulatorPortal(db=":memory:", seed_demo=seed) as portal:
        _title("1. An emulator portal on 127.0.0.1")
        print(f"v2 webhook : {_masked(portal.v2_url, portal.secret)}")
        print(f"v3 webhook : {_masked(portal.v3_url, portal.secret)}")
        print(f"CA file    : {portal.ca_path}")
        print(f"seeded     : {seed} CRM records")

        with B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path) as b24:
            print(f"client     : {b24!r}")
            if verbose:
                b24.set_logger(logging.getLogger("b24hook.demo"))

            _title("2. Calls")
            res = b24.actions.v2.call.make(method="server.time")
            print(f"server.time            -> {res.get_data_or_raise()['result']}")
            res = b24.actions.v2.call.make(method="profile")
            prof = res.get_data_or_raise()["result"]
            print(f"profile                -> {prof.get('NAME')} {prof.get('LAST_NAME')} "
                  f"(admin: {prof.get('ADMIN')})")
            res = b24.actions.v2.call.make(
                method="crm.item.add",
                params={"entityTypeId": 2, "fields": {"title": "Demo deal", "opportunity": 1250.5}},
            )
            item = res.get_data_or_raise()["result"]["item"]
            print(f"crm.item.add           -> deal #{item['id']} {item['title']!r}")
            res = b24.actions.v2.call.make(
                method="crm.item.list",
                params={"entityTypeId": 2, "select": ["id", "title"],
                        "order": {"id": "DESC"}, "filter": {">id": 0}},
            )
            data = res.get_data_or_raise()
            duration = (data["time"] or {}).get("duration", 0.0)
            print(f"crm.item.list          -> {len(data['result']['items'])} items on the first page "
                  f"(server time {duration:.4f} s)")
            res = b24.actions.v3.call.make(
                method="tasks.task.add", params={"fields": {"title": "Call the customer"}},
            )
            task = res.get_data_or_raise()["result"]["item"]
            print(f"v3 tasks.task.add      -> task #{task['id']} {task['title']!r}")

            _title("3. Errors, handled")
            try:
                b24.actions.v2.call.make(method="crm.item.get",
                                         params={"entityTypeId": 2, "id": 10**9})
            except AjaxError as err:
                print(f"hard error raised      -> {err.code} (HTTP {err.status}): {err.message}")
                print(f"  request info         -> {err.request_info}")
            res = b24.actions.v3.call.make(method="tasks.task.get", params={"id": 10**9})
            print(f"soft error returned    -> is_success={res.is_success}, "
                  f"{res.get_error_messages()}")
            try:
                B24Hook.from_webhook_url("http://example.bitrix24.com/rest/1/secret")
            except ValueError as err:
                print(f"bad webhook URL        -> ValueError: {err}")
            print("redacted query string  -> "
                  + redact_sensitive_url("crm.item.add?auth=abc123&fields[TITLE]=x"))

            _title("4. Health check and ping")
            print(f"health_check           -> {b24.tools.health_check.make()}")
            print(f"ping                   -> {b24.tools.ping.make()} ms")

            _title("5. A list pull, with a progress bar")
            contacts = b24.actions.v2.call_list.make(
                "crm.contact.list",
                {"select": ["ID", "NAME", "LAST_NAME"], "filter": {"<=ID": 1500}},
                progress=True,
            )
            rows = contacts.get_data_or_raise()
            print(f"crm.contact.list       -> {len(rows)} contacts, one page of 50 per request "
                  f"(first: {rows[0]['NAME']} {rows[0]['LAST_NAME']})")

            _title("6. A batch")
            batch = b24.actions.v2.batch.make(
                {
                    "deal": ("crm.item.get", {"entityTypeId": 2, "id": item["id"]}),
                    "company": ("crm.item.list", {"entityTypeId": 4, "select": ["id", "title"],
                                                  "order": {"id": "ASC"}}),
                    "first_company": ("crm.item.get",
                                      {"entityTypeId": 4, "id": "$result[company][items][0][id]"}),
                    "missing": ("crm.item.get", {"entityTypeId": 2, "id": 10**9}),
                },
                is_halt_on_error=False,
            )
            got = batch.get_data() or {}  # failed commands are left out, kept in its errors
            print(f"4 commands, 1 request  -> deal {got['deal']['item']['title']!r}, "
                  f"first company {got['first_company']['item']['title']!r} "
                  f"(found through a $result reference)")
            print(f"  per-command errors   -> {batch.get_error_messages_by_key()}")

            _title("7. An export under the portal's real limits")
            portal.configure(rate_limit=(50, 2), operating_limit=480)
            portal.reset_stats()
            t0 = time.monotonic()
            n = 0
            for chunk in b24.actions.v2.fetch_list.make(
                "crm.item.list", {"entityTypeId": 2, "select": ["id", "title", "opportunity"]},
                id_key="id", custom_key_for_result="items", fast=True, shards=2, progress=True,
            ):
                n += len(chunk)
            elapsed = time.monotonic() - t0
            st = portal.stats()
            reqs = st["total"]
            print(f"fetch_list(fast=True)  -> {n} deals in {reqs} HTTP requests "
                  f"({n / max(reqs, 1):.0f} rows per request), {elapsed:.1f} s, "
                  f"{st['query_limit_exceeded']} x QUERY_LIMIT_EXCEEDED")
            plain = -(-n // 50)
            floor = max(0.0, (plain - 50) / 2)
            print(f"  one page per request -> would take {plain} requests: "
                  f"{floor:.0f} s at the portal's 2 requests/s after the burst")

            stats = b24.get_http_client("v2").get_stats()
            print()
            print(f"v2 requests            -> {stats['total_requests']} "
                  f"({stats['successful_requests']} ok, {stats['failed_requests']} failed), "
                  f"limiter waits: {stats['limit_hits']}")

        print()
        print("Done. Start a portal of your own with: python -m b24hook.emulator --seed-demo 1000")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20000, help="CRM records to seed")
    ap.add_argument("-v", "--verbose", action="store_true", help="log client events (DEBUG)")
    args = ap.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    return run(args.seed, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
