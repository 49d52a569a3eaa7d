"""What the portal is set up with: the :class:`Settings` switches (where portal.md
leaves a choice), the scopes it knows, and :class:`Webhook`, one inbound webhook."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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


def check_settings(s: "Settings") -> None:
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
