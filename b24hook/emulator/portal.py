"""EmulatorPortal: the public object (lifecycle, webhooks, stats, faults)."""
from __future__ import annotations

import dataclasses
import json
import os
import random
import secrets
import shutil
import string
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Protocol

from .faults import STATUS_ERRORS, FaultPlan
from .server import Dispatcher, Request, Response, _TLSServer, JSON_CT
from .store import Store
from .timing import OperatingLedger, make_tz

# every scope this portal knows (``scope?full=true``)
PORTAL_SCOPES = ("bizproc", "calendar", "catalog", "crm", "department", "disk", "entity",
                 "humanresources", "im", "imbot", "lists", "mail", "main", "sale",
                 "task", "telephony", "timeman", "user", "user_basic", "user_brief")
DEFAULT_SCOPES = ("crm", "task", "user", "department", "disk", "im", "lists", "entity",
                  "calendar", "catalog", "main", "humanresources", "mail", "timeman")
_ALT_SCOPES = {"user": ("user_brief", "user_basic"), "task": ("tasks",)}


@dataclass
class Settings:
    """Switches where portal.md leaves a choice (docs/emulator.md explains each)."""
    auth_error_status: int = 401            # INVALID_CREDENTIALS / insufficient_scope: 401 or 403
    v3_method_not_found_status: int = 404   # METHODNOTFOUNDEXCEPTION status (undocumented)
    v3_system_error_shape: str = "v2"       # "v2" {error,error_description} | "v3" {error:{code,message}}
    start_rounding: bool = True             # start=75 -> offset 50 (classic); False = exact offset
    count_cost_per_row: float = 20e-6       # simulated seconds per row counted (49.9 s / 2.39 M rows)
    row_cost: float = 0.0002                # simulated seconds per row returned
    sleep_simulated_cost: bool = False      # really sleep the simulated cost
    tz_offset_minutes: int = 180            # portal time zone (+03:00)
    v3_integer_times: bool = True           # v3 time.start/processing as integers (doc samples)
    operating: bool = True                  # include operating/operating_reset_at (cloud)
    idle_timeout: float = 75.0              # keep-alive idle timeout, seconds
    license: str = "en_project"             # app.info LICENSE for webhooks


@dataclass(frozen=True)
class Webhook:
    user_id: int
    secret: str
    scopes: frozenset

    @property
    def key(self) -> str:
        return f"webhook:{self.user_id}:{self.secret}"

    def has_scope(self, scope: str) -> bool:
        if scope in self.scopes:
            return True
        return any(a in self.scopes for a in _ALT_SCOPES.get(scope, ()))


class Hook(Protocol):
    """Pipeline hook (rate limits, faults...).  ``before`` may answer instead of
    the portal; ``after`` may rewrite the answer."""

    def before(self, portal: "EmulatorPortal", req: Request) -> Response | None: ...
    def after(self, portal: "EmulatorPortal", req: Request, resp: Response) -> Response: ...


def random_secret(n: int = 24) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


class FaultHook:
    """Applies ``portal.faults``; the first matching fault is consumed."""

    def before(self, portal: "EmulatorPortal", req: Request) -> Response | None:
        f = portal.faults.take(req.method)
        setattr(req, "_fault", f)
        if f is None:
            return None
        if f.kind == "hang":
            delay = 60.0 if f.delay is None else float(f.delay)
            if portal._stopping.wait(delay):
                return Response(0, b"", close=True)
            return None          # then answer normally (a slow portal)
        if f.kind == "html":
            status = f.status or 502
            body = (f"<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
                    f"<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
                    "</body>\r\n</html>\r\n").encode()
            return Response(status, body, "text/html")
        if f.kind == "non_json":
            return Response(f.status or 200, b"Service temporarily unavailable: maintenance. "
                            b"This is not JSON.", "text/plain; charset=utf-8")
        if f.kind == "status":
            status = f.status or 503
            code, text = STATUS_ERRORS.get(status, ("ERROR_CORE", "Error"))
            body = {"error": f.code or code, "error_description": f.description or text}
            return portal.dispatcher.json_response(status, body)
        return None   # no_time acts in after()

    def after(self, portal: "EmulatorPortal", req: Request, resp: Response) -> Response:
        f = getattr(req, "_fault", None)
        if f is not None and f.kind == "no_time" and 200 <= resp.status < 300 \
                and isinstance(resp.envelope, dict) and "time" in resp.envelope:
            env = {k: v for k, v in resp.envelope.items() if k != "time"}
            return portal.dispatcher.json_response(resp.status, env, req.transport)
        return resp


class EmulatorPortal:
    """A local Bitrix24 portal over HTTPS, backed by SQLite.  See docs/emulator.md."""

    def __init__(self, db: str = ":memory:", seed_demo: int = 0, host: str = "127.0.0.1",
                 port: int = 0, user_id: int = 1, secret: str | None = None, *,
                 scopes: Iterable[str] = DEFAULT_SCOPES, seed: int = 24,
                 settings: Settings | None = None, ca_path: str | None = None,
                 **switches: Any) -> None:
        self.settings = dataclasses.replace(settings or Settings(), **switches)
        self.tz = make_tz(self.settings.tz_offset_minutes)
        self.host = host
        self._port = port
        self.user_id = int(user_id)
        self.secret = secret if secret is not None else random_secret()
        self.seed = seed
        self.rng = random.Random(seed)          # issue 3: random faults draw from here
        self.store = Store(db, self.tz)
        self.ledger = OperatingLedger()
        self.faults = FaultPlan()
        self.hooks: list[Any] = [FaultHook()]
        self.dispatcher = Dispatcher(self)
        self._webhooks: dict[tuple[str, str], Webhook] = {}
        self._wh_lock = threading.Lock()
        self.add_webhook(self.user_id, self.secret, scopes=scopes)
        self._stats: dict[str, dict[int, int]] = {}
        self._stats_total = 0
        self._stats_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir: str | None = None
        self._ca_path_req = ca_path
        self.ca_path: str = ""
        self._ca = None
        self._seeded = 0
        if seed_demo:
            self.seed_demo(seed_demo)

    # ------------------------------------------------------------ lifecycle
    def _make_tls(self):
        import ssl
        import trustme
        self._ca = trustme.CA(organization_name="b24hook emulator CA")
        cert = self._ca.issue_cert("127.0.0.1", "localhost", "::1")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        if self._ca_path_req:
            path = os.path.abspath(self._ca_path_req)
        else:
            self._tmpdir = tempfile.mkdtemp(prefix="b24emu-")
            path = os.path.join(self._tmpdir, "ca.pem")
        self._ca.cert_pem.write_to_path(path)
        self.ca_path = path
        return ctx

    def start(self) -> "EmulatorPortal":
        if self._server is not None:
            return self
        self._stopping.clear()
        ctx = self._make_tls()
        self._server = _TLSServer((self.host, self._port), self, ctx)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="b24emu-serve", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        srv = self._server
        if srv is None:
            return
        self._stopping.set()
        srv.shutdown()               # serve_forever returns
        if self._thread is not None:
            self._thread.join()
        srv.socket.close()
        srv.kick_connections()       # wake keep-alive readers and hangs
        srv.server_close()           # joins every connection thread
        self._server = None
        self._thread = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def close(self) -> None:
        self.stop()
        self.store.close()

    def __enter__(self) -> "EmulatorPortal":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def v2_url(self) -> str:
        return f"{self.origin}/rest/{self.user_id}/{self.secret}"

    @property
    def v3_url(self) -> str:
        return f"{self.origin}/rest/api/{self.user_id}/{self.secret}"

    # ------------------------------------------------------------ webhooks
    def add_webhook(self, user_id: int, secret: str,
                    scopes: Iterable[str] = DEFAULT_SCOPES) -> Webhook:
        wh = Webhook(int(user_id), str(secret), frozenset(scopes))
        self.store.ensure_user(wh.user_id)
        with self._wh_lock:
            self._webhooks[(str(wh.user_id), wh.secret)] = wh
        return wh

    def find_webhook(self, uid: str | None, secret: str | None) -> Webhook | None:
        if uid is None or secret is None:
            return None
        with self._wh_lock:
            return self._webhooks.get((uid, secret))

    # ------------------------------------------------------------ data
    def seed_demo(self, n: int) -> dict:
        """Fill the CRM with ``n`` realistic records (deterministic per seed)."""
        out = self.store.seed_demo(int(n), seed=self.seed + self._seeded)
        self._seeded += 1
        return out

    # ------------------------------------------------------------ stats
    def _count(self, method: str, status: int) -> None:
        with self._stats_lock:
            per = self._stats.setdefault(method, {})
            per[status] = per.get(status, 0) + 1
            self._stats_total += 1

    def stats(self) -> dict:
        with self._stats_lock:
            return {"requests": {m: dict(s) for m, s in self._stats.items()},
                    "total": self._stats_total}

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._stats.clear()
            self._stats_total = 0

    # ------------------------------------------------------------ faults
    def inject(self, kind: str, *, method: str | None = None, count: int = 1,
               status: int | None = None, delay: float | None = None, **kw: Any):
        return self.faults.inject(kind, method=method, count=count, status=status,
                                  delay=delay, **kw)

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------ pipeline
    def pipeline(self, req: Request) -> Response:
        done: list = []
        resp: Response | None = None
        for h in self.hooks:
            done.append(h)
            resp = h.before(self, req)
            if resp is not None:
                break
        if resp is None:
            resp = self.dispatcher.dispatch(req)
        if resp.close:
            return resp
        for h in reversed(done):
            resp = h.after(self, req, resp)
        return resp

    def admin(self, req: Request) -> Response:
        """``/_emulator/…``: GET stats, POST reset, POST faults, POST faults/clear, GET health."""
        path = req.path.rstrip("/")
        def ok(obj: Any, status: int = 200) -> Response:
            return Response(status, json.dumps(obj).encode(), JSON_CT)
        if path == "/_emulator/stats" and req.verb in ("GET", "HEAD"):
            return ok(self.stats())
        if path == "/_emulator/reset" and req.verb == "POST":
            self.reset_stats()
            return ok({"ok": True})
        if path == "/_emulator/health":
            return ok({"ok": True, "v2": f"/rest/{self.user_id}/***", "seeded": self._seeded})
        if path == "/_emulator/faults" and req.verb == "GET":
            return ok(self.faults.pending())
        if path == "/_emulator/faults" and req.verb == "POST":
            try:
                spec = json.loads(req.body or b"{}")
                kind = spec.pop("kind")
                self.inject(kind, **{k: spec[k] for k in ("method", "count", "status", "delay",
                                                          "code", "description") if k in spec})
            except (ValueError, KeyError, TypeError) as exc:
                return ok({"ok": False, "error": str(exc)}, 400)
            return ok({"ok": True})
        if path == "/_emulator/faults/clear" and req.verb == "POST":
            self.clear_faults()
            return ok({"ok": True})
        return ok({"ok": False, "error": "unknown admin endpoint"}, 404)
