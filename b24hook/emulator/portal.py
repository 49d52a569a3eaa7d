"""EmulatorPortal: the public object.  It is the portal's state (state.py) plus
the lifecycle of its HTTPS server, the request pipeline (hooks around the
dispatcher), snapshot/reset, configuration, faults and the admin endpoints."""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import string
import tempfile
import threading
from typing import TYPE_CHECKING, Any, Iterable

from .dispatch import Dispatcher
from .faults import Fault
from .hooks import FaultHook, Hook, RateLimitHook
from .server import _TLSServer
from .settings import DEFAULT_SCOPES, Settings, check_settings
from .state import PortalState
from .wire import JSON_CT, Request, Response

if TYPE_CHECKING:  # pragma: no cover
    import ssl

    import trustme


def random_secret(n: int = 24) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


class EmulatorPortal(PortalState):
    """A local Bitrix24 portal over HTTPS, backed by SQLite.  See docs/emulator.md."""

    def __init__(self, db: str = ":memory:", seed_demo: int = 0, host: str = "127.0.0.1",
                 port: int = 0, user_id: int = 1, secret: str | None = None, *,
                 scopes: Iterable[str] = DEFAULT_SCOPES, seed: int = 24,
                 settings: Settings | None = None, ca_path: str | None = None,
                 **switches: Any) -> None:
        s = dataclasses.replace(settings or Settings(), **switches)
        check_settings(s)
        super().__init__(s, db, host, port, seed)
        self.user_id = int(user_id)
        self.secret = secret if secret is not None else random_secret()
        self.dispatcher = Dispatcher(self)
        self.hooks: list[Hook] = [FaultHook(), RateLimitHook()]
        self.add_webhook(self.user_id, self.secret, scopes=scopes)
        self._clean: tuple[Any, Settings, int] | None = None
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
        self._server = _TLSServer((self.host, self._port), self, ctx, self.pipeline, self.admin)
        self._bound_port = self._server.server_address[1]
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
        self._bound_port = None
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
    def v2_url(self) -> str:
        return f"{self.origin}/rest/{self.user_id}/{self.secret}"

    @property
    def v3_url(self) -> str:
        return f"{self.origin}/rest/api/{self.user_id}/{self.secret}"

    # ------------------------------------------------------------ data
    def seed_demo(self, n: int) -> dict[str, Any]:
        """Fill the CRM with ``n`` realistic records (deterministic per seed)."""
        out = self.store.seed_demo(int(n), seed=self.seed + self._seeded)
        self._seeded += 1
        return out

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
        check_settings(new)
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
        done: list[Hook] = []
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
