"""The servers of the bench, all on 127.0.0.1.

* :class:`StaticTLS`: nginx (Debian) answering every ``/rest/...`` POST with a
  fixed ``server.time`` envelope, HTTP/1.1 keep-alive, TLS with a CA made by
  trustme, one worker process, no access log, no limits.
* :func:`emulator`: the embedded emulator portal with ``crm.item.list`` rows
  (contacts, entityTypeId 3) seeded quickly and, on request, the standard limits.
"""
from __future__ import annotations

import os
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
        location /rest/ {{
            default_type "application/json; charset=utf-8";
            return 200 '{body}';
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StaticTLS:
    """nginx with a `return 200` server.time location under /rest/<uid>/<secret>/ and /rest/api/..."""

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
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(exist_ok=True)
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
