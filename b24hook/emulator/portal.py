"""EmulatorPortal: the public object (lifecycle, webhooks, stats, faults)."""
from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import secrets
import shutil
import string
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Protocol

from .faults import Fault, FaultPlan
from .hooks import FaultHook, LeakyBucket, RateLimitHook, html_page
from .idempotency import IdempotencyStore
from .server import Dispatcher, Request, Response, _TLSServer, JSON_CT
from .store import Store
from .timing import Clock, OperatingLedger, make_tz

if TYPE_CHECKING:  # pragma: no cover
    import ssl

    import trustme

PLANS = {"standard": (50.0, 2.0), "enterprise": (250.0, 5.0)}


def parse_rate_limit(v: Any) -> tuple[float, float] | None:
    """``"50/2"``, ``"standard"``, ``"enterprise"``, ``(50, 2)``, ``None``/``"off"``."""
    if v is None or v is False or (isinstance(v, str) and v.lower() in ("", "off", "none", "0")):
        return None
    if isinstance(v, str):
        if v.lower() in PLANS:
            return PLANS[v.lower()]
        v = v.partition("/")[::2]
    x, y = float(v[0]), float(v[1])
    if x <= 0 or y < 0:
        raise ValueError("rate limit needs X > 0 and Y >= 0")
    return (x, y)


def _check_settings(s: "Settings") -> None:
    s.rate_limit = parse_rate_limit(s.rate_limit)
    if s.batch_billing not in ("documented", "observed"):
        raise ValueError("batch_billing must be 'documented' or 'observed'")
    if s.request_timeout_mode not in ("504", "drop"):
        raise ValueError("request_timeout_mode must be '504' or 'drop'")
    if s.time_scale <= 0:
        raise ValueError("time_scale must be > 0")
    if s.client_identity is not None and (
            not isinstance(s.client_identity, str)
            or not re.fullmatch(r"[A-Za-z0-9-]+", s.client_identity)):
        raise ValueError("client_identity must be None or a header name")

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
    # ---- limits (all off by default) ----
    rate_limit: tuple[float, float] | None = None   # leaky bucket (X, Y): 50/2 standard, 250/5 enterprise
    rate_limit_count_refused: bool = False  # refused requests also raise the counter
    client_identity: str | None = None      # header naming the client host (bucket key); None = source IP
    operating_limit: float | None = None    # seconds per (webhook, method) in 10 min; cloud 480
    exec_time_per_call: Any = 0.0           # simulated seconds per call (float or {method: s})
    exec_time_per_row: float = 0.0          # simulated seconds per row returned or written
    time_scale: float = 1.0                 # the portal clock runs this much faster than real time
    batch_billing: str = "documented"       # "documented" | "observed" (§5.3 conflict)
    request_timeout: float | None = None    # per-request cut-off in portal seconds; cloud 60
    request_timeout_mode: str = "504"       # "504" (nginx HTML page) | "drop" (connection reset)
    overload: bool = False                  # OVERLOAD_LIMIT 503 for every webhook call
    free_plan: bool = False                 # ACCESS_DENIED 403 "REST is available only on commercial plans."
    idempotency_ttl: float = 86400.0        # v3 Idempotency-Key store lifetime, seconds
    v3_batch_rollback: bool = True          # v3 batch: undo earlier commands' writes when one fails


@dataclass(frozen=True)
class Webhook:
    user_id: int
    secret: str
    scopes: frozenset[str]

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


class EmulatorPortal:
    """A local Bitrix24 portal over HTTPS, backed by SQLite.  See docs/emulator.md."""

    def __init__(self, db: str = ":memory:", seed_demo: int = 0, host: str = "127.0.0.1",
                 port: int = 0, user_id: int = 1, secret: str | None = None, *,
                 scopes: Iterable[str] = DEFAULT_SCOPES, seed: int = 24,
                 settings: Settings | None = None, ca_path: str | None = None,
                 **switches: Any) -> None:
        self.settings = dataclasses.replace(settings or Settings(), **switches)
        _check_settings(self.settings)
        self.clock = Clock(self.settings.time_scale)
        self.tz = make_tz(self.settings.tz_offset_minutes)
        self.host = host
        self._port = port
        self.user_id = int(user_id)
        self.secret = secret if secret is not None else random_secret()
        self.seed = seed
        self.rng = random.Random(seed)          # issue 3: random faults draw from here
        self.store = Store(db, self.tz)
        self.ledger = OperatingLedger(clock=self.clock.now)
        self.bucket = LeakyBucket()
        self.idempotency = IdempotencyStore(self.clock.now)
        self.faults = FaultPlan(seed)
        self.hooks: list[Any] = [FaultHook(), RateLimitHook()]
        self.dispatcher = Dispatcher(self)
        self._webhooks: dict[tuple[str, str], Webhook] = {}
        self._busy = 0
        self._busy_peak = 0
        self._wh_lock = threading.Lock()
        self.add_webhook(self.user_id, self.secret, scopes=scopes)
        self._stats: dict[str, dict[int, int]] = {}
        self._stats_total = 0
        self._notes: dict[str, Any] = {}
        self._rows: dict[str, int] = {}
        self._log: list[dict[str, Any]] = []
        self._clean: tuple[Any, Settings, int] | None = None
        self._row_buf = threading.local()
        self._stats_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir: str | None = None
        self._ca_path_req = ca_path
        self.ca_path: str = ""
        self._ca: trustme.CA | None = None
        self._seeded = 0
        if seed_demo:
            self.seed_demo(seed_demo)
        self.snapshot()

    # ------------------------------------------------------------ lifecycle
    def _make_tls(self) -> ssl.SSLContext:
        import ssl
        import trustme
        ca = self._ca = trustme.CA(organization_name="b24hook emulator CA")
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        if self._ca_path_req:
            path = os.path.abspath(self._ca_path_req)
        else:
            self._tmpdir = tempfile.mkdtemp(prefix="b24emu-")
            path = os.path.join(self._tmpdir, "ca.pem")
        ca.cert_pem.write_to_path(path)
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
    def seed_demo(self, n: int) -> dict[str, Any]:
        """Fill the CRM with ``n`` realistic records (deterministic per seed)."""
        out = self.store.seed_demo(int(n), seed=self.seed + self._seeded)
        self._seeded += 1
        return out

    # ------------------------------------------------------------ stats
    def _count(self, method: str, status: int, api: str | None = None) -> None:
        with self._stats_lock:
            per = self._stats.setdefault(method, {})
            per[status] = per.get(status, 0) + 1
            self._stats_total += 1
            self._log.append({"method": method, "status": status, "api": api})

    def request_log(self) -> list[dict[str, Any]]:
        """Every request answered since the last ``reset_stats``/``reset``, in
        order: ``{"method", "status", "api"}`` (status 0: the connection was
        dropped; api ``"v2"``/``"v3"``, None for a non-REST path)."""
        with self._stats_lock:
            return [dict(r) for r in self._log]

    def _note(self, name: str, sub: str | None = None, n: int = 1) -> None:
        """Named counters (refusals, replays, faults fired...)."""
        with self._stats_lock:
            if sub is None:
                self._notes[name] = self._notes.get(name, 0) + n
            else:
                d = self._notes.setdefault(name, {})
                d[sub] = d.get(sub, 0) + n

    def count_row(self, table: str, n: int = 1) -> None:
        """A row was created in ``table`` (``crm_deal``, ``tasks``...).  Inside a
        v3 batch transaction the count waits for the commit."""
        buf = getattr(self._row_buf, "pending", None)
        if buf is not None:
            buf.append((table, n))
            return
        with self._stats_lock:
            self._rows[table] = self._rows.get(table, 0) + n

    def stats(self) -> dict[str, Any]:
        """``requests`` {method: {status: n}}, ``total``, ``by_status`` {status: n},
        ``query_limit_exceeded`` (503 refusals by the leaky bucket),
        ``operation_time_limit`` (429 refusals), ``rows_created`` {table: n},
        ``idempotent_replays``, ``faults_fired`` {kind: n}, ``cutoffs``,
        ``overload_refused``, ``free_plan_refused``, ``in_flight`` (requests
        being processed right now, e.g. one held by a ``hang`` fault),
        ``in_flight_peak`` (the most requests processed at once since the start or
        the last reset)."""
        with self._stats_lock:
            by_status: dict[int, int] = {}
            for per in self._stats.values():
                for st, n in per.items():
                    by_status[st] = by_status.get(st, 0) + n
            out = {"requests": {m: dict(s) for m, s in self._stats.items()},
                   "total": self._stats_total,
                   "by_status": by_status,
                   "rows_created": dict(self._rows)}
            for k in ("query_limit_exceeded", "operation_time_limit", "idempotent_replays",
                      "cutoffs", "overload_refused", "free_plan_refused"):
                out[k] = self._notes.get(k, 0)
            out["faults_fired"] = dict(self._notes.get("faults_fired", {}))
            out["in_flight"] = self._busy
            out["in_flight_peak"] = self._busy_peak
            return out

    def _in_flight(self, delta: int) -> None:
        with self._stats_lock:
            self._busy += delta
            self._busy_peak = max(self._busy_peak, self._busy)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no request is being processed (a test's leftovers, such as
        an answer held by a ``hang`` fault, would otherwise land in the next
        test's counters). Returns False if still busy after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._stats_lock:
                if self._busy == 0:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._stats.clear()
            self._stats_total = 0
            self._busy_peak = self._busy
            self._notes.clear()
            self._rows.clear()
            self._log.clear()

    # ------------------------------------------------------------ snapshot / reset
    def snapshot(self) -> None:
        """Remember the current state (rows, id sequences, settings) as the
        clean state :meth:`reset` returns to."""
        self._clean = (self.store.snapshot(), dataclasses.replace(self.settings), self._seeded)

    def reset(self, timeout: float = 30.0) -> None:
        """Back to the last :meth:`snapshot` (or to an empty store if none was
        taken): rows and id sequences, settings, faults, limits (operating
        ledger, leaky bucket, idempotency keys), the clock's offset is kept,
        counters and the request log are cleared.  Waits for requests in
        flight first (a held answer would land in the fresh state)."""
        self.clear_faults()
        if not self.wait_idle(timeout):
            raise RuntimeError("emulator still busy: a request did not finish")
        assert self._clean is not None  # taken at the end of __init__
        snap, settings, seeded = self._clean
        self.store.restore(snap)
        self.settings = dataclasses.replace(settings)
        self.clock.set_scale(self.settings.time_scale)
        self._seeded = seeded
        self.reset_limits()
        self.reset_stats()

    # ------------------------------------------------------------ limits
    def configure(self, **switches: Any) -> dict[str, Any]:
        """Change ``Settings`` fields on a running portal, e.g.
        ``portal.configure(rate_limit=(50, 2), operating_limit=480)``.
        Returns the resulting settings as a dict."""
        new = dataclasses.replace(self.settings, **switches)
        _check_settings(new)
        if new.time_scale != self.settings.time_scale:
            self.clock.set_scale(new.time_scale)
        self.settings = new
        return self.settings_dict()

    def settings_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self.settings)
        if d["rate_limit"] is not None:
            d["rate_limit"] = list(d["rate_limit"])
        return d

    def advance_clock(self, seconds: float) -> float:
        """Move the portal clock forward (ledger buckets expire, the bucket drains)."""
        return self.clock.advance(seconds)

    def reset_limits(self) -> None:
        """Forget the operating ledger, the leaky-bucket levels and stored idempotency keys."""
        self.ledger.clear()
        self.bucket.clear()
        self.idempotency.clear()

    def operating(self, method: str, user_id: int | None = None, secret: str | None = None) -> tuple[float, int]:
        """(operating seconds, operating_reset_at) of one (webhook, method)."""
        wh = self.find_webhook(str(user_id or self.user_id), secret or self.secret)
        key = wh.key if wh else f"webhook:{user_id}:{secret}"
        return self.ledger.state((key, method.lower()))

    def cutoff_response(self) -> Response:
        """What the 60 s cut-off looks like (``request_timeout_mode``)."""
        if self.settings.request_timeout_mode == "drop":
            return Response(0, b"", close=True, reset=True)
        return html_page(504)

    def limits_state(self) -> dict[str, Any]:
        led = {}
        for k, v in self.ledger.snapshot().items():
            parts = k.split(" ")
            who = parts[0].rsplit(":", 1)[0] if parts[0].startswith("webhook:") else parts[0]
            led[f"{who} {' '.join(parts[1:])}"] = v
        return {"operating": led, "bucket": self.bucket.snapshot(),
                "clock": self.clock.now(), "idempotency_keys": len(self.idempotency)}

    # ------------------------------------------------------------ faults
    def inject(self, kind: str, method: str | None = None, count: int | None = None,
               status: int | None = None, delay: float | None = None, **kw: Any) -> Fault:
        """Inject a fault (faults.py): ``count`` next matching requests, or each
        with probability ``fraction`` (deterministic per seed); extra keywords
        ``code``, ``description``, ``fraction``, ``truncate_at``, ``seed``."""
        return self.faults.inject(kind, method=method, count=count, status=status,
                                  delay=delay, **kw)

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------ pipeline
    def pipeline(self, req: Request) -> Response:
        done: list[Any] = []
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
        """``/_emulator/…`` (no credentials; see docs/emulator.md):

        GET stats · POST reset · POST state/reset · GET/POST settings · GET limits · POST limits/reset ·
        POST clock/advance {"seconds"} · GET/POST faults · POST faults/clear · GET health
        """
        path = req.path.rstrip("/")
        def ok(obj: Any, status: int = 200) -> Response:
            return Response(status, json.dumps(obj).encode(), JSON_CT)
        def body() -> dict[str, Any]:
            data = json.loads(req.body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("body must be a JSON object")
            return data
        get = req.verb in ("GET", "HEAD")
        post = req.verb == "POST"
        try:
            if path == "/_emulator/stats" and get:
                return ok(self.stats())
            if path == "/_emulator/reset" and post:
                self.reset_stats()
                return ok({"ok": True})
            if path == "/_emulator/state/reset" and post:
                self.reset()
                return ok({"ok": True})
            if path == "/_emulator/health":
                return ok({"ok": True, "v2": f"/rest/{self.user_id}/***", "seeded": self._seeded})
            if path == "/_emulator/settings" and get:
                return ok(self.settings_dict())
            if path == "/_emulator/settings" and post:
                return ok(self.configure(**body()))
            if path == "/_emulator/limits" and get:
                return ok(self.limits_state())
            if path == "/_emulator/limits/reset" and post:
                self.reset_limits()
                return ok({"ok": True})
            if path == "/_emulator/clock/advance" and post:
                return ok({"ok": True, "now": self.advance_clock(float(body().get("seconds", 0)))})
            if path == "/_emulator/faults" and get:
                return ok(self.faults.pending())
            if path == "/_emulator/faults" and post:
                spec = body()
                kind = spec.pop("kind")
                self.inject(kind, **{k: spec[k] for k in (
                    "method", "count", "status", "delay", "code", "description", "fraction",
                    "truncate_at", "seed") if k in spec})
                return ok({"ok": True})
            if path == "/_emulator/faults/clear" and post:
                self.clear_faults()
                return ok({"ok": True})
        except (ValueError, KeyError, TypeError) as exc:
            return ok({"ok": False, "error": str(exc)}, 400)
        return ok({"ok": False, "error": "unknown admin endpoint"}, 404)
