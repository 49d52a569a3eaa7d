"""PortalState: what one request sees and touches.

The settings, the clock, the store, the limits' state (operating ledger, leaky
bucket, idempotency keys), the fault plan, the webhooks, the counters and the
address.  The dispatcher, the hooks, the method handlers and the HTTP server
are all handed this state; :class:`~.portal.EmulatorPortal` is the state plus
the public face (lifecycle, snapshot/reset, configuration, admin endpoints).
"""
from __future__ import annotations

import random
import threading
import time
from typing import Any, Iterable

from .faults import FaultPlan
from .idempotency import IdempotencyStore
from .settings import DEFAULT_SCOPES, Settings, Webhook
from .store import Store
from .timing import Clock, LeakyBucket, OperatingLedger, make_tz
from .wire import Response, html_page


class PortalState:
    """The shared pieces of a running portal (module docstring)."""

    def __init__(self, settings: Settings, db: str, host: str, port: int, seed: int) -> None:
        self.settings = settings
        self.clock = Clock(self.settings.time_scale)
        self.tz = make_tz(self.settings.tz_offset_minutes)
        self.host = host
        self._port = port
        self._bound_port: int | None = None     # the port listened on while serving
        self.seed = seed
        self.rng = random.Random(seed)          # issue 3: random faults draw from here
        self.store = Store(db, self.tz)
        self.ledger = OperatingLedger(clock=self.clock.now)
        self.bucket = LeakyBucket()
        self.idempotency = IdempotencyStore(self.clock.now)
        self.faults = FaultPlan(seed)
        self._webhooks: dict[tuple[str, str], Webhook] = {}
        self._wh_lock = threading.Lock()
        self._busy = 0
        self._busy_peak = 0
        self._stats: dict[str, dict[int, int]] = {}
        self._stats_total = 0
        self._notes: dict[str, Any] = {}
        self._rows: dict[str, int] = {}
        self._log: list[dict[str, Any]] = []
        self._row_buf = threading.local()
        self._stats_lock = threading.Lock()
        self._stopping = threading.Event()

    # ------------------------------------------------------------ address
    @property
    def port(self) -> int:
        return self._port if self._bound_port is None else self._bound_port

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

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

    # ------------------------------------------------------------ stats
    def count_request(self, method: str, status: int, api: str | None = None) -> None:
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

    def note(self, name: str, sub: str | None = None, n: int = 1) -> None:
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

    def hold_rows(self) -> None:
        """This thread's created rows wait from now on (a v3 batch's transaction)."""
        self._row_buf.pending = []

    def release_rows(self, committed: bool) -> None:
        """The transaction ended: count the rows it created if it committed."""
        rows, self._row_buf.pending = self._row_buf.pending, None
        if committed:
            for table, n in rows:
                self.count_row(table, n)

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

    def in_flight(self, delta: int) -> None:
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

    def cutoff_response(self) -> Response:
        """What the 60 s cut-off looks like (``request_timeout_mode``)."""
        if self.settings.request_timeout_mode == "drop":
            return Response(0, b"", close=True, reset=True)
        return html_page(504)
