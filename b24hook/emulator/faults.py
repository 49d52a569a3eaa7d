"""Fault seam: scripted misbehaviour that wraps the normal pipeline.

A fault is taken by the first matching request (``method=None`` matches
any), ``count`` times.  Kinds now: ``html``, ``non_json``, ``no_time``,
``hang``, ``status``.  Issue 3 adds rate limits, operating budgets, the 60 s
cut-off, latency, random 500s, resets and truncated bodies; those plug in
as further kinds or as pipeline hooks (see ``server.Hook``) and draw their
randomness from the portal's seeded ``rng``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

KINDS = ("html", "non_json", "no_time", "hang", "status")

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
    remaining: int
    status: int | None = None
    delay: float | None = None
    code: str | None = None
    description: str | None = None

    def matches(self, method: str | None) -> bool:
        return self.remaining > 0 and (self.method is None or
                                       (method is not None and self.method == method))


class FaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(self, kind: str, *, method: str | None = None, count: int = 1,
               status: int | None = None, delay: float | None = None,
               code: str | None = None, description: str | None = None) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        if count < 1:
            raise ValueError("count must be >= 1")
        f = Fault(kind, method.lower() if method else None, int(count), status, delay,
                  code, description)
        with self._lock:
            self._faults.append(f)
        return f

    def take(self, method: str | None) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.matches(method):
                    f.remaining -= 1
                    if f.remaining <= 0:
                        self._faults.remove(f)
                    return f
        return None

    def pending(self) -> list[dict]:
        with self._lock:
            return [dict(kind=f.kind, method=f.method, remaining=f.remaining,
                         status=f.status, delay=f.delay) for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
