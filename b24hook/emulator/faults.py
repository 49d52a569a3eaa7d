"""Fault seam: scripted misbehaviour that wraps the normal pipeline.

A fault matches requests to ``method`` (``None`` = any).  It fires either on
the next ``count`` matching requests, or — with ``fraction`` — on each
matching request with that probability (at most ``count`` times when a count
is given too).  The draws come from a generator of the fault's own, seeded
from the portal seed and the fault's description (or ``seed=``), so the same
injection on a portal with the same seed misbehaves on the same requests.

Kinds (see docs/emulator.md):

* before the portal runs the method (like a proxy in front of it):
  ``html``, ``non_json``, ``status``, ``error500``, ``latency``, ``hang``,
  ``reset_before`` (alias ``reset``);
* after the method ran (its effects stay): ``reset_after``, ``truncate``,
  ``no_time``, ``null_result``.
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = ("html", "non_json", "no_time", "null_result", "hang", "status", "latency", "error500",
         "reset_before", "reset_after", "truncate")
ALIASES = {"reset": "reset_before", "500": "error500", "slow": "hang"}
AFTER_KINDS = ("reset_after", "truncate", "no_time", "null_result")

# default (code, text) for a "status" fault, by HTTP status
STATUS_ERRORS = {
    400: ("ERROR_CORE", "Internal error"),
    401: ("NO_AUTH_FOUND", "Wrong authorization data"),
    403: ("ACCESS_DENIED", "Access denied!"),
    404: ("ERROR_METHOD_NOT_FOUND", "Method not found!"),
    429: ("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."),
    500: ("INTERNAL_SERVER_ERROR", "Internal server error"),
    503: ("QUERY_LIMIT_EXCEEDED", "Too many requests"),
}


@dataclass
class Fault:
    kind: str
    method: str | None
    remaining: int | None            # None = unlimited (fraction faults)
    status: int | None = None
    delay: float | None = None
    code: str | None = None
    description: str | None = None
    fraction: float | None = None
    truncate_at: int | None = None
    fired: int = 0
    seen: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def matches(self, method: str | None) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.method is None or (method is not None and self.method == method)

    def describe(self) -> dict[str, Any]:
        return dict(kind=self.kind, method=self.method, remaining=self.remaining,
                    status=self.status, delay=self.delay, fraction=self.fraction,
                    truncate_at=self.truncate_at, fired=self.fired, seen=self.seen)


class FaultPlan:
    def __init__(self, seed: int = 24) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.seed = seed

    def inject(self, kind: str, *, method: str | None = None, count: int | None = None,
               status: int | None = None, delay: float | None = None,
               code: str | None = None, description: str | None = None,
               fraction: float | None = None, truncate_at: int | None = None,
               seed: int | str | None = None) -> Fault:
        kind = ALIASES.get(kind, kind)
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        if fraction is not None:
            fraction = float(fraction)
            if not 0.0 <= fraction <= 1.0:
                raise ValueError("fraction must be within 0..1")
        if count is None:
            count = None if fraction is not None else 1
        elif int(count) < 1:
            raise ValueError("count must be >= 1")
        else:
            count = int(count)
        m = method.lower() if method else None
        if seed is None:
            seed = f"{self.seed}|{kind}|{m}|{fraction}"
        f = Fault(kind, m, count, status, delay, code, description, fraction,
                  truncate_at, rng=random.Random(str(seed)))
        with self._lock:
            self._faults.append(f)
        return f

    def take(self, method: str | None) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if not f.matches(method):
                    continue
                f.seen += 1
                if f.fraction is not None and f.rng.random() >= f.fraction:
                    continue
                f.fired += 1
                if f.remaining is not None:
                    f.remaining -= 1
                    if f.remaining <= 0:
                        self._faults.remove(f)
                return f
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
