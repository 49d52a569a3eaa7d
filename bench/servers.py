"""The servers of the bench, all on 127.0.0.1.

* :class:`StaticTLS`: nginx (Debian) answering every ``/rest/...`` POST with a
  fixed ``server.time`` envelope, and ``/rest/.../crm.item.list`` with a fixed
  50-row page (:func:`list_page`), HTTP/1.1 keep-alive, TLS with a CA made by
  trustme, one worker process, no access log, no limits.
* :func:`emulator`: the embedded emulator portal with ``crm.item.list`` rows
  (contacts, entityTypeId 3) seeded quickly and, on request, the standard limits.
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .env import CACHE, log, setup_nginx

SECRET = "benchsecret0123456789abc"
SERVER_TIME = (
    '{"result":"2026-01-01T00:00:00+03:00","time":{"start":1767214800.1234,"finish":1767214800.1241,'
    '"duration":0.000677,"processing":0.00012,"date_start":"2026-01-01T00:00:00+03:00",'
    '"date_finish":"2026-01-01T00:00:00+03:00","operating_reset_at":1767215400,"operating":0}}'
)

NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {dir}/server.pem;
        ssl_certificate_key {dir}/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:1m;
        root {dir}/static;
        etag off;
        max_ranges 0;
        location /rest/ {{
            default_type "application/json; charset=utf-8";
            return 200 '{body}';
        }}
        # the 50-row crm.item.list page: too long for `return` (nginx caps a config
        # token at 4 kB), so a file under the server's root; the static module
        # answers POST with 405, which error_page turns into a 200 with that file
        location ~ ^/rest/.*/crm\\.item\\.list$ {{
            default_type "application/json; charset=utf-8";
            try_files /crm.item.list =404;
            error_page 405 =200 /crm.item.list;
        }}
        location = /crm.item.list {{
            default_type "application/json; charset=utf-8";
        }}
    }}
}}
"""


# --------------------------------------------------------------------------- the 50-row page

FIXTURES = Path("/work/shared/fixtures/real-responses")
LIST_METHOD = "crm.item.list"
LIST_PARAMS = {"entityTypeId": 2, "select": ["*"], "order": {"id": "ASC"}, "start": 0}
LIST_ROWS = 50

# The fields a real portal returns for a deal from crm.item.list with select ["*"]
# (camelCase crm.item names, in the portal's order) and the kind of value each holds.
_DEAL_ITEM_FIELDS = [
    ("id", "id"), ("xmlId", "null"), ("title", "title"), ("createdBy", "user"), ("updatedBy", "user"),
    ("movedBy", "user"), ("createdTime", "datetime"), ("updatedTime", "datetime"), ("movedTime", "datetime"),
    ("categoryId", "small"), ("opened", "yn"), ("stageId", "stage"), ("previousStageId", "stage"),
    ("begindate", "date"), ("closedate", "date"), ("companyId", "idornull"), ("opportunity", "money"),
    ("isManualOpportunity", "yn"), ("taxValue", "zero"), ("currencyId", "currency"), ("mycompanyId", "small"),
    ("sourceId", "source"), ("sourceDescription", "textornull"), ("webformId", "zero"), ("closed", "yn"),
    ("comments", "textornull"), ("assignedById", "user"), ("lastActivityBy", "user"),
    ("lastActivityTime", "datetime"), ("lastCommunicationTime", "datetimeornull"),
    ("lastCommunicationCallTime", "datetimeornull"), ("lastCommunicationEmailTime", "datetimeornull"),
    ("lastCommunicationImolTime", "datetimeornull"), ("lastCommunicationWebformTime", "datetimeornull"),
    ("contactId", "idornull"), ("contactIds", "ids"), ("observers", "users"), ("utmSource", "utm"),
    ("utmMedium", "utm"), ("utmCampaign", "utm"), ("utmContent", "null"), ("utmTerm", "null"),
    ("stageSemanticId", "semantic"), ("typeId", "dealtype"), ("probability", "probability"), ("isNew", "yn"),
    ("isRecurring", "n"), ("isReturnCustomer", "yn"), ("isRepeatedApproach", "yn"), ("entityTypeId", "two"),
    ("locationId", "null"), ("originatorId", "null"), ("originId", "null"),
    ("ufCrm_1594289659496", "ufmoney"), ("ufCrm_1594290129890", "url"), ("ufCrm11_1712074666", "datetimeornull"),
]


def _titles() -> list[str]:
    """Titles the real portals sent (Cyrillic; crm_item_list.json, the lead list pages)."""
    titles: list[str] = []
    for name, key in (("crm_item_list.json", "title"), ("crm_lead_list_one_page_success.json", "TITLE")):
        try:
            d = json.loads((FIXTURES / name).read_text("utf-8"))["response"]["result"]
        except (OSError, ValueError, KeyError):
            continue
        rows = d.get("items", []) if isinstance(d, dict) else d
        titles += [r[key] for r in rows if isinstance(r, dict) and isinstance(r.get(key), str)]
    return titles or ["Сделка с сайта", "Заявка: поставка оборудования / 2024"]


def list_page(rows: int = LIST_ROWS, seed: int = 10) -> bytes:
    """A ``crm.item.list`` page of ``rows`` deals the way a real cloud portal answers
    ``select: ["*"]``: the envelope of fixtures/real-responses/crm_item_list.json
    (``result.items``, ``next``, ``total``, ``time`` with the operating fields),
    ~55 camelCase fields per row, int ids, ``"Y"/"N"``, datetimes with offset, nulls,
    id lists, money user fields, Cyrillic titles; PHP ``json_encode`` escaping
    (``\\uXXXX``, ``\\/``). About 100 kB."""
    rng = random.Random(seed)
    titles = _titles()
    stages = ["NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE", "WON", "LOSE", "C1:NEW"]

    def dt() -> str:
        return (f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T{rng.randrange(0, 24):02d}:"
                f"{rng.randrange(0, 60):02d}:{rng.randrange(0, 60):02d}+03:00")

    def value(kind: str, rid: int) -> Any:
        if kind == "id":
            return rid
        if kind == "title":
            return rng.choice(titles)
        if kind == "null":
            return None
        if kind in ("user",):
            return rng.choice([1, 6511, 6512, 7, 15, 233])
        if kind == "users":
            return rng.sample([1, 7, 15, 233, 6511], rng.randrange(0, 3))
        if kind == "small":
            return rng.randrange(0, 3)
        if kind == "yn":
            return rng.choice("YN")
        if kind == "n":
            return "N"
        if kind == "zero":
            return 0
        if kind == "two":
            return 2
        if kind == "stage":
            return rng.choice(stages)
        if kind == "date":
            return f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T03:00:00+03:00"
        if kind == "datetime":
            return dt()
        if kind == "datetimeornull":
            return dt() if rng.random() < 0.5 else None
        if kind == "idornull":
            return rng.randrange(1, 400_000) if rng.random() < 0.7 else 0
        if kind == "ids":
            return [rng.randrange(1, 400_000) for _ in range(rng.randrange(0, 3))]
        if kind == "money":
            return rng.randrange(0, 10**7) / 100
        if kind == "ufmoney":
            return f"{rng.randrange(0, 10**6) / 100:.2f}|RUB" if rng.random() < 0.6 else ""
        if kind == "currency":
            return rng.choice(["RUB", "RUB", "USD", "EUR"])
        if kind == "source":
            return rng.choice(["WEB", "CALL", "EMAIL", "ADVERTISING", "PARTNER", "OTHER"])
        if kind == "textornull":
            return rng.choice(titles) + " (комментарий менеджера)" if rng.random() < 0.4 else None
        if kind == "utm":
            return rng.choice(["yandex", "google", "cpc", "newsletter_2024/11", None, None])
        if kind == "semantic":
            return rng.choice(["P", "P", "S", "F"])
        if kind == "dealtype":
            return rng.choice(["SALE", "COMPLEX", "GOODS", "SERVICES"])
        if kind == "probability":
            return rng.choice([None, 10, 50, 90])
        if kind == "url":
            return f"https://example.ru/deal/{rng.randrange(1, 10**6)}/?utm_source=crm&x=1" if rng.random() < 0.3 else ""
        raise ValueError(kind)

    items = []
    rid = 20_000
    for _ in range(rows):
        rid += rng.randrange(1, 4)
        items.append({name: value(kind, rid) for name, kind in _DEAL_ITEM_FIELDS})
    body = {"result": {"items": items}, "next": rows, "total": 12_345,
            "time": {"start": 1767214800.1234, "finish": 1767214800.2241, "duration": 0.10069704055786133,
                     "processing": 0.08712005615234375, "date_start": "2026-01-01T00:00:00+03:00",
                     "date_finish": "2026-01-01T00:00:00+03:00", "operating_reset_at": 1767215400,
                     "operating": 0.3167290687561035}}
    # PHP json_encode: ASCII only (\uXXXX) and escaped slashes
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StaticTLS:
    """nginx with a `return 200` server.time location under /rest/<uid>/<secret>/ and /rest/api/...,
    and the 50-row page (:func:`list_page`) for any ``.../crm.item.list``."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nginx-", dir=CACHE))
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def v2_url(self) -> str:
        return f"{self.origin}/rest/1/{SECRET}"

    @property
    def ca_path(self) -> str:
        return str(self.dir / "ca.pem")

    def start(self) -> "StaticTLS":
        import trustme

        nginx = setup_nginx()
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        ca.cert_pem.write_to_path(str(self.dir / "ca.pem"))
        cert.private_key_pem.write_to_path(str(self.dir / "server.key"))
        cert.cert_chain_pems[0].write_to_path(str(self.dir / "server.pem"))
        for blob in cert.cert_chain_pems[1:]:
            blob.write_to_path(str(self.dir / "server.pem"), append=True)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "static"):
            (self.dir / sub).mkdir(exist_ok=True)
        (self.dir / "static" / LIST_METHOD).write_bytes(list_page())
        conf = self.dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user="user root;" if os.geteuid() == 0 else "",
                                          dir=self.dir, port=self.port, body=SERVER_TIME))
        self.proc = subprocess.Popen([nginx, "-p", str(self.dir), "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                log(f"nginx static TLS server at {self.origin}")
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> "StaticTLS":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- emulator

ENTITY_TYPE_ID = 3   # contacts: the largest share of the emulator's demo seed


def seed_rows(portal: Any, n: int) -> int:
    """Make ``n`` contacts (entityTypeId 3): the demo seed, then copies of its rows
    with fresh ids (SQL ``INSERT ... SELECT``; 1,000,000 rows in a few seconds)."""
    portal.seed_demo(max(200, min(n, 20000) * 10 // 3 + 10))
    st = portal.store
    with st.lock:
        c = st.conn
        cols = [r[1] for r in c.execute("PRAGMA table_info(crm_item)")]
        while True:
            cnt, mx = c.execute("SELECT count(*), max(id) FROM crm_item WHERE entity_type_id=?",
                                (ENTITY_TYPE_ID,)).fetchone()
            if cnt >= n:
                break
            take = min(cnt, n - cnt)
            sel = ", ".join(f"id + {mx}" if col == "id" else col for col in cols)
            c.execute(f"INSERT INTO crm_item({', '.join(cols)}) SELECT {sel} FROM crm_item "
                      f"WHERE entity_type_id={ENTITY_TYPE_ID} ORDER BY id LIMIT {take}")
        if cnt > n:   # trim to exactly n
            c.execute("DELETE FROM crm_item WHERE entity_type_id=? AND id > (SELECT id FROM crm_item "
                      "WHERE entity_type_id=? ORDER BY id LIMIT 1 OFFSET ?)", (ENTITY_TYPE_ID, ENTITY_TYPE_ID, n - 1))
        c.execute("INSERT OR REPLACE INTO seq(name, value) VALUES (?, (SELECT max(id) FROM crm_item "
                  "WHERE entity_type_id=?))", (f"crm{ENTITY_TYPE_ID}", ENTITY_TYPE_ID))
        c.commit()
        return c.execute("SELECT count(*) FROM crm_item WHERE entity_type_id=?", (ENTITY_TYPE_ID,)).fetchone()[0]


STANDARD_LIMITS = {"rate_limit": (50, 2), "operating_limit": 480}


def emulator(rows: int) -> Any:
    """A started emulator portal with ``rows`` contacts and no limits."""
    from b24hook.emulator import EmulatorPortal

    p = EmulatorPortal(db=":memory:").start()
    t = time.monotonic()
    got = seed_rows(p, rows)
    log(f"emulator at {p.origin}: {got} contacts seeded in {time.monotonic() - t:.1f} s")
    return p


def set_limits(portal: Any, on: bool) -> str | None:
    """Turn the standard limits (bucket 50/2, operating 480 s / 10 min) on or off.
    Returns a reason when the emulator does not support them (yet)."""
    try:
        if on:
            portal.configure(**STANDARD_LIMITS)
        else:
            portal.configure(rate_limit=None, operating_limit=None)
        portal.reset_limits()
    except (AttributeError, TypeError, ValueError) as err:
        return f"limits not yet available in the emulator ({type(err).__name__}: {err})"
    return None


def counters(portal: Any) -> dict[str, int]:
    s = portal.stats()
    by = s.get("by_status") or {}
    return {"requests": int(s.get("total", 0)), "503": int(by.get(503, by.get("503", 0))),
            "429": int(by.get(429, by.get("429", 0)))}


def quiet(portal: Any, settle: float = 60.0) -> None:
    """Wait until the emulator has answered every request of the previous run
    (a peer that gave up may leave batches in flight), then forget the limits' state."""
    deadline = time.monotonic() + settle
    last = -1
    while time.monotonic() < deadline:
        now = portal.stats().get("total", 0)
        if now == last:
            break
        last = now
        time.sleep(1.0)
    portal.reset_limits()
    portal.reset_stats()
