"""Pacing of a planned job against the rate bucket and the operating budget.

One copy for every planned job (the list export of ``_export``, the write
jobs of ``batch_by_chunk`` in ``_write_job``): :class:`PacedJob` reads the
answers' ``time`` blocks (server time per unit of work, the method's
``operating`` seconds and ``operating_reset_at``, the portal's clock), keeps
what a budget refusal taught, and asks the C planner ``_core.export_plan``
how many requests to keep in flight, how many units per request and whether
to wait for the budget (docs/export.md "The planner", docs/batch.md "Large
write jobs"). A *unit* is a 50-row page for an export and one sub-call for
a write job.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from . import _core
from ._http import Http

__all__ = ["PacedJob", "BUDGET_MARGIN", "BUDGET_REFUSED", "MAX_SLEEP", "job_limits", "free_tokens",
           "DEFAULT_BURST", "DEFAULT_DRAIN", "DEFAULT_WINDOW_S"]

#: tokens of the rate bucket left to the client's other callers (a tenth of the burst, >= 2)
RESERVE_FRACTION = 0.1
#: the limiter's defaults (the C core's one table, b24_limits_config_default): what a
#: job plans with when it is given no limits, and when a setting is missing
_DEFAULTS = _core.Limiter.defaults()
DEFAULT_BURST = float(_DEFAULTS["rate_limit"]["burst_limit"])
DEFAULT_DRAIN = float(_DEFAULTS["rate_limit"]["drain_rate"])
DEFAULT_WINDOW_S = _DEFAULTS["operating_limit"]["window_ms"] / 1000.0
_DEFAULT_BUDGET_S = _DEFAULTS["operating_limit"]["limit_ms"] / 1000.0
#: the share of the operating budget a job never spends
BUDGET_MARGIN = 0.05
BUDGET_REFUSED = "OPERATION_TIME_LIMIT"
#: the longest sleep before the plan is asked again
MAX_SLEEP = 5.0
#: the budget charges a unit its learned time plus this many deviations of it
COST_GUARD_K = 2.0
#: the deviation a first observation is given (a share of it): one answer, from a
#: request running alone, does not show what a wave of concurrent requests costs
COST_PRIOR_DEV = 0.05


def num(x: Any) -> float | None:
    """A finite number of a ``time`` block, else None."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


class _Clock:
    """The portal's clock seen from here: answers' ``finish`` against the local
    monotonic clock (an emulator may run its clock faster, ``--time-scale``)."""

    __slots__ = ("first", "last", "rate", "hint")

    def __init__(self) -> None:
        self.first: tuple[float, float] | None = None
        self.last: tuple[float, float] | None = None
        self.rate = 1.0
        self.hint = 0.0    # the largest (server duration / local round trip) seen

    def see(self, portal: float, local: float) -> None:
        if self.first is None:
            self.first = (portal, local)
        if self.last is None or portal >= self.last[0]:
            self.last = (portal, local)
        dl = self.last[1] - self.first[1]
        r = (self.last[0] - self.first[0]) / dl if dl >= 1.0 else self.hint
        # a real portal's clock runs at 1 (its duration never exceeds our round trip)
        self.rate = 1.0 if r <= 1.5 else r

    def see_duration(self, duration: float, elapsed: float) -> None:
        """One answer: the server's ``duration`` (its clock) within our ``elapsed``."""
        if elapsed >= 0.01 and duration >= 0.05:
            self.hint = max(self.hint, duration / elapsed)

    def portal_now(self, local: float) -> float | None:
        if self.last is None:
            return None
        return self.last[0] + (local - self.last[1]) * self.rate


class PacedJob:
    """The observations and the budget pacing shared by the planned jobs.

    A subclass sets ``kind`` (its name in log lines), ``method`` and
    ``batch_units`` (the units of one full request) and calls
    :meth:`_observe` with every answer, :meth:`_refused` on a budget
    refusal and :meth:`_plan` before it starts requests.
    """

    kind = "job"
    #: operating seconds per unit the plan assumes while none was observed
    #: (0: the budget is not planned for until an answer reports the unit time)
    unit_prior_s = 0.0

    def __init__(self, method: str, *, max_flights: int | None, burst: float, drain: float,
                 budget_limit_s: float, window_s: float, batch_units: int) -> None:
        self.method = method
        self.batch_units = batch_units
        self.max_flights = max_flights if max_flights is not None else max(1, int(burst))
        self.burst, self.drain = float(burst), float(drain)
        self.reserve = max(2, round(burst * RESERVE_FRACTION))
        self.budget_limit_s, self.window_s = float(budget_limit_s), float(window_s)
        # observations
        self.page_s: float | None = None          # operating seconds per unit of work
        self.page_dev = 0.0                        # its mean deviation (answers' averages)
        self.rtt_s: float | None = None
        self.clock = _Clock()
        self.used_s = 0.0                          # operating seconds, last report
        self.used_at = -math.inf                   # portal time of that report
        self.reset_at: float | None = None         # operating_reset_at, last report
        self.refused_until = -math.inf             # local time: a refusal seen, wait
        self.budget_waits = 0
        self.waiting_s = 0.0
        self.plan: tuple[int, int, float, bool, float] = (1, 1, 0.0, False, 0.0)
        self.notes: list[tuple[str, dict[str, Any]]] = []   # for the logger

    # -- budget ----------------------------------------------------------------
    def unit_cost(self) -> float:
        """Operating seconds the budget charges a unit not answered yet: the learned
        time plus a guard proportional to its error (``COST_GUARD_K`` mean deviations
        of the answers' per-unit averages), so that a wave planned to the headroom
        stays under the limit when its units cost more than the few answers seen."""
        if self.page_s is None:
            return self.unit_prior_s
        return self.page_s + COST_GUARD_K * self.page_dev

    def budget_state(self, now: float) -> tuple[float, float, bool]:
        """(used seconds, wall seconds to the reset or -1, stale)."""
        if self.budget_limit_s <= 0:
            return 0.0, -1.0, False
        if now < self.refused_until:
            return self.budget_limit_s, self.refused_until - now, False
        pnow = self.clock.portal_now(now)
        cost = self.unit_cost()
        short = self.budget_limit_s * (1 - BUDGET_MARGIN) - self.used_s < cost * self.batch_units
        if self.reset_at is None or pnow is None:
            # no reset time known: past a refusal, one unit asks for a fresh state
            return self.used_s, -1.0, short and self.used_s > 0
        reset_in = (self.reset_at - pnow) / self.clock.rate
        return self.used_s, max(reset_in, 0.0), reset_in <= 0 and short

    def _plan(self, now: float, tokens: float, units_left: float, in_flight: int,
              inflight_units: float) -> tuple[int, int, float, bool, float]:
        """The C planner's decision: (flights, units per request, wait, budget-bound, eta)."""
        used, reset_in, stale = self.budget_state(now)
        unit_s = self.page_s if self.page_s is not None else self.unit_prior_s
        cost = self.unit_cost()
        self.plan = _core.export_plan(
            pages_left=units_left, page_s=unit_s / self.clock.rate, page_cost_s=cost,
            rtt_s=self.rtt_s or 0.0, tokens=tokens, drain=self.drain, reserve=self.reserve,
            max_flights=self.max_flights, in_flight=in_flight,
            budget_limit_s=self.budget_limit_s, budget_used_s=used,
            budget_inflight_s=inflight_units * cost, reset_in_s=reset_in,
            window_s=self.window_s / self.clock.rate, margin=BUDGET_MARGIN, budget_stale=stale)
        return self.plan

    def _refused(self, now: float) -> None:
        """A budget refusal: nothing new until the reported reset (or a basket's minute)."""
        self.budget_waits += 1
        pnow = self.clock.portal_now(now)
        reset_in = (self.reset_at - pnow) / self.clock.rate if self.reset_at is not None and pnow is not None else -1.0
        wait = reset_in if reset_in > 0 else 60.0 / self.clock.rate   # a basket's minute
        self.refused_until = max(self.refused_until, now + wait + 0.05)
        self.used_s = max(self.used_s, self.budget_limit_s)
        self.notes.append((f"{self.kind}: a request was refused for the operating budget; "
                           "re-sent after the reset", {"method": self.method, "wait_s": round(wait, 1)}))

    # -- answers -----------------------------------------------------------------
    def _observe(self, env: Mapping[str, Any], top: Any, sent: float, now: float,
                 full: set[str], units: int = 0) -> None:
        """The answer's ``time`` blocks: unit time, budget used, reset, clock.

        ``full``: the commands of a v2 batch whose ``processing`` is one unit's;
        ``units``: with no per-command time (a v3 batch), the units the whole
        request carried (its ``processing`` spread over them)."""
        blocks: list[Mapping[str, Any]] = []
        if isinstance(top, Mapping):
            blocks.append(top)
        times = env.get("result_time")
        if isinstance(times, list):   # a batch of unnamed commands: a PHP list
            times = {str(i): tm for i, tm in enumerate(times)}
        procs = []
        if isinstance(times, Mapping):
            for name, tm in times.items():
                if isinstance(tm, Mapping):
                    blocks.append(tm)
                    p = num(tm.get("processing"))
                    if p is not None and name in full:
                        procs.append(p)
        elif units > 0 and isinstance(top, Mapping):
            p = num(top.get("processing"))
            if p is not None:
                procs.append(p / units)
        if procs:
            avg = sum(procs) / len(procs)
            if self.page_s is None:
                self.page_s, self.page_dev = avg, COST_PRIOR_DEV * avg
            else:
                self.page_dev = 0.75 * self.page_dev + 0.25 * abs(avg - self.page_s)
                self.page_s = 0.7 * self.page_s + 0.3 * avg
        if isinstance(top, Mapping):
            d0 = num(top.get("duration"))
            if d0 is not None:
                self.clock.see_duration(d0, now - sent)
        # the answer's budget: the largest `operating` of its blocks (documented
        # billing: the commands' method; observed: `batch`, on every block),
        # as of its latest `finish`; a newer answer replaces an older one
        fin_a, op_a, reset_a = -math.inf, None, None
        for tm in blocks:
            fin = num(tm.get("finish"))
            if fin is None:
                continue
            self.clock.see(fin, now)
            fin_a = max(fin_a, fin)
            op = num(tm.get("operating"))
            if op is not None and (op_a is None or op > op_a):
                op_a, reset_a = op, num(tm.get("operating_reset_at"))
        if op_a is not None and fin_a > self.used_at:
            self.used_s, self.used_at = op_a, fin_a
            if reset_a is not None and op_a > 0:
                self.reset_at = reset_a
        if isinstance(top, Mapping):
            dur = num(top.get("duration"))
            elapsed = now - sent
            if dur is not None:
                over = max(0.0, elapsed - dur / self.clock.rate)
                self.rtt_s = over if self.rtt_s is None else 0.7 * self.rtt_s + 0.3 * over


def job_limits(http: Http) -> dict[str, float]:
    """The bucket and the operating budget a job plans with (the client's configuration)."""
    p = http.get_restriction_manager_params()
    rate = p.get("rate_limit") or {}
    op = p.get("operating_limit") or {}
    return {"burst": float(rate.get("burst_limit", DEFAULT_BURST)),
            "drain": float(rate.get("drain_rate", DEFAULT_DRAIN)),
            "budget_limit_s": float(op["limit_ms"]) / 1000.0 if "limit_ms" in op else _DEFAULT_BUDGET_S,
            "window_s": float(op["window_ms"]) / 1000.0 if "window_ms" in op else DEFAULT_WINDOW_S}


def free_tokens(http: Http) -> float:
    """The limiter's free tokens now."""
    try:
        return float(http.restriction.limiter.stats().get("tokens", 0.0))
    except Exception:  # noqa: BLE001 - a test double's limiter: plan as if the bucket were full
        return DEFAULT_BURST
