"""``batch_by_chunk`` as a planned job (issue 12 item 5; docs/batch.md "Large write jobs").

:class:`WriteJob` is a sans-I/O machine like the export's ``ExportJob`` and
shares its pacing (``_pacing.PacedJob``): before starting requests it asks
the C planner ``_core.export_plan`` how many batch requests to keep in
flight and how many sub-calls each may carry -- from the free tokens of the
rate bucket, the server time per sub-call observed in the answers' ``time``
/ ``result_time`` blocks and the operating budget they report (both billing
modes) -- and waits instead of spending a budget that is not there. Until
an answer reports the sub-call time it plans with a pessimistic one
(:data:`UNIT_PRIOR_S`), so the first wave starts at once; a large job of
independent commands is cut across the caller's chunks over the free tokens.

What is re-sent, and what never is:

* a sub-call refused for ``OPERATION_TIME_LIMIT`` or ``QUERY_LIMIT_EXCEEDED``
  (a v2 ``result_error``) did not run: it is re-sent after the wait, alone
  with the other refused ones (with ``halt``, the commands the portal then
  skipped too); the committed sub-calls of that request are never re-sent.
  A refused command that references the result of a command of another
  request (``$result[...]``) cannot be re-sent on its own: it fails with
  ``JSSDK_BATCH_NOT_RESENT``;
* a whole request refused for the budget or the rate (nothing ran) is
  re-sent after the wait;
* a request whose fate is unknown -- the engine raised it ``maybe_committed``
  (a reset after send, a 500 to a write: the safe-write rule; v2 has no
  Idempotency-Key and the portal honours none on ``batch``) -- is never
  re-sent. No new request starts; once those in flight answered, the job
  raises :class:`~b24hook.BatchMaybeCommittedError` naming the commands
  that may be committed and the ones never sent, with the known results.

Two thin drivers run it: :func:`run_write_job` on the caller's thread over
``Http.flights()`` and :func:`arun_write_job` on an asyncio loop.
"""
from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from . import _core
from ._batch import ChunkPlan, Command, _BatchCore, _index, _v2_refs, _v3_refs
from ._enums import ApiVersion
from ._errors import AjaxError, BatchMaybeCommittedError, SdkError
from ._logging import LogLevel, emit
from ._pacing import (BUDGET_MARGIN, BUDGET_REFUSED, DEFAULT_BURST, DEFAULT_DRAIN, DEFAULT_WINDOW_S, MAX_SLEEP,
                      PacedJob, free_tokens, job_limits)
from ._pipeline import _Prepared, aresult, astart
from ._result import AjaxResult, Result

if TYPE_CHECKING:
    from ._http import AsyncClient, Http

__all__ = ["WriteJob", "run_write_job", "arun_write_job"]

RATE_REFUSED = "QUERY_LIMIT_EXCEEDED"
#: operating seconds per sub-call a write job plans with until the first answers
#: report the real time: pessimistic (a 50-call batch = 10 s of server time; real
#: portals report tens of ms per add), so the first wave fits the budget unless the
#: server is pathologically slow; at the standard 480 s budget the whole first
#: wave the bucket admits (45 requests x 50) still fits (docs/batch.md)
UNIT_PRIOR_S = 0.2
#: a job spreads over more requests than its chunks once they take this share
#: of the free tokens
SPREAD_FROM = 0.5
_REFUSED = (BUDGET_REFUSED, RATE_REFUSED)


@dataclass
class _Part:
    """One batch request: commands numbered from 0 as sent, each with the
    caller's command and chunk it answers for."""

    chunk: int              # the chunk of the first command
    sent: list[Command]     # as sent (positions 0..n-1)
    origin: list[Command]   # the caller's commands (positions in their chunk)
    started: float = 0.0
    #: the chunk of each command when they come from several (a pooled job); None: all ``chunk``
    chunks: list[int] | None = None

    def chunk_of(self, i: int) -> int:
        return self.chunks[i] if self.chunks is not None else self.chunk

    def tail(self, n: int) -> "_Part":
        """The commands from ``n`` on, as they were (not renumbered)."""
        return _Part(self.chunk_of(n), self.sent[n:], self.origin[n:],
                     chunks=self.chunks[n:] if self.chunks is not None else None)


def _code(err: BaseException | None) -> str | None:
    code = getattr(err, "code", None)
    return str(code) if code is not None else None


class WriteJob(PacedJob):
    """The chunks of one ``batch_by_chunk`` as a planned job.

    ``next_requests(now, tokens)`` -> ``([(key, body)], wait_s)``;
    ``feed(key, answer, now)`` for an answer, ``fail(key, error, now)`` for
    a raised one; ``done`` once nothing is left to send or in flight;
    ``results()`` -> the shaped ``Result`` of every chunk, in order (or the
    raised error).
    """

    kind = "batch_by_chunk"
    unit_prior_s = UNIT_PRIOR_S

    def __init__(self, core: _BatchCore, plan: ChunkPlan, bodies: list[Any], *,
                 max_flights: int | None = None,
                 burst: float = DEFAULT_BURST, drain: float = DEFAULT_DRAIN, budget_limit_s: float = 0.0,
                 window_s: float = DEFAULT_WINDOW_S) -> None:
        methods = {c.method for chunk in plan.chunks for c in chunk}
        super().__init__(methods.pop() if len(methods) == 1 else "batch", max_flights=max_flights,
                         burst=burst, drain=drain, budget_limit_s=budget_limit_s,
                         window_s=window_s, batch_units=_core.BATCH_MAX_COMMANDS)
        self.core = core
        self.chunk_plan = plan
        self.halt = plan.halt
        v3 = core._version is ApiVersion.V3
        self.v3 = v3
        # every chunk's body, checked before the first is sent (refusals raised before any I/O)
        self.bodies = bodies
        self.queue: deque[_Part] = deque(_Part(i, c, c) for i, c in enumerate(plan.chunks))
        self.pooled = self._poolable()
        self.flights: dict[int, _Part] = {}
        self.answers: list[dict[str, AjaxResult]] = [{} for _ in plan.chunks]
        self.errors: list[dict[str, BaseException]] = [{} for _ in plan.chunks]
        self.uncertain: list[tuple[_Part, AjaxError]] = []
        self.raised: list[tuple[int, BaseException]] = []
        self._next_key = 0
        self.requests = 0
        self.resent = 0
        self.peak = 0

    # -- what to send ----------------------------------------------------------
    @property
    def stopped(self) -> bool:
        return bool(self.uncertain or self.raised)

    @property
    def done(self) -> bool:
        return not self.flights and (self.stopped or not self.queue)

    def _poolable(self) -> bool:
        """The caller's commands may go in requests cut across its chunks: no
        ``halt`` (it stops a request at its first error), no command references
        another, and the aliases stay one form and unique in any request."""
        if self.halt:
            return False
        aliases = [c.alias for chunk in self.chunk_plan.chunks for c in chunk]
        named = [a for a in aliases if a]
        if named and (len(named) != len(aliases) or len(set(named)) != len(named)):
            return False
        return not any((next(iter(_v3_refs(c.query)), None) is not None) if self.v3 else _v2_refs(c)
                       for chunk in self.chunk_plan.chunks for c in chunk)

    def _units_left(self) -> int:
        return sum(len(p.sent) for p in self.queue)

    def _splittable(self, part: _Part, n: int) -> bool:
        """The first ``n`` commands may go alone: no later one references them,
        and ``halt`` (which stops a request at its first error) is off."""
        if self.halt or n >= len(part.sent):
            return False
        head = {_index(c) for c in part.sent[:n]}
        for c in part.sent[n:]:
            refs = set(_v3_refs(c.query)) if self.v3 else _v2_refs(c)
            if refs & head:
                return False
        return True

    def next_requests(self, now: float, tokens: float) -> tuple[list[int], float]:
        """The keys of the requests to start now (their bodies: :meth:`body`), or
        the seconds to wait before asking again."""
        if self.stopped or not self.queue:
            return [], 0.0
        if now < self.refused_until:
            return [], self.refused_until - now
        flights, units, wait, bound, _eta = self._plan(
            now, tokens, self._units_left(), len(self.flights),
            sum(len(p.sent) for p in self.flights.values()))
        if wait > 0:
            return [], wait
        if self.page_s is None and bound and self._wave_capped(now, tokens):
            # the budget, not the bucket, would cap the first wave even at the
            # prior's time: one request measures the real time before the budget
            # is spent (a first wave at the prior, then planned on a few early
            # answers, let the emulator at 100x refuse sub-calls near the edge)
            flights = 1
        # independent commands of a job that takes most of the bucket anyway: each
        # request carries the plan's share, cut across the caller's chunks (45
        # requests of 45 finish before 40 of 50: a batch's sub-calls run one after
        # another); a smaller job keeps its chunks and leaves the bucket to the
        # client's other calls
        free = max(tokens - self.reserve, 1.0) + len(self.flights)
        spread = (self.pooled and not bound
                  and math.ceil(self._units_left() / self.batch_units) >= SPREAD_FROM * free)
        out: list[int] = []
        while self.queue and len(self.flights) < flights:
            if spread:
                part = self._cut(units)
            else:
                part = self.queue[0]
                # a request carries a whole chunk of the caller's plan (each request
                # costs a token of the shared bucket), unless the budget allows less
                if bound and len(part.sent) > units:
                    if self._splittable(part, units):
                        part = self._split(units)
                    else:
                        # the budget allows less than this request: wait for the
                        # answers in flight, or for the oldest basket to expire
                        if not self.flights:
                            _, reset_in, _ = self.budget_state(now)
                            return out, reset_in if reset_in > 0 else 1.0
                        break
                self.queue.popleft()
            key = self._next_key
            self._next_key += 1
            part.started = now
            self.flights[key] = part
            self.requests += 1
            out.append(key)
        self.peak = max(self.peak, len(self.flights))
        return out, 0.0

    def _wave_capped(self, now: float, tokens: float) -> bool:
        """The wave the bucket admits now would cost more than the budget left,
        at the prior's time per sub-call."""
        used, _, _ = self.budget_state(now)
        headroom = self.budget_limit_s * (1 - BUDGET_MARGIN) - used
        wave = min(self._units_left(), max(tokens - self.reserve, 1.0) * self.batch_units)
        return wave * self.unit_cost() > headroom

    def body(self, key: int) -> Any:
        """The body of the started request ``key`` (encoded here, one request at a
        time: the async driver gives the loop a turn between two)."""
        part = self.flights[key]
        self.core._starting(part.sent, self.halt)
        if part.chunks is None and part.sent is self.chunk_plan.chunks[part.chunk]:
            return self.bodies[part.chunk]
        return self.core.body(part.sent, self.halt)

    def _split(self, n: int) -> _Part:
        part = self.queue.popleft()
        head = _Part(part.chunk, part.sent[:n], part.origin[:n],
                     chunks=part.chunks[:n] if part.chunks is not None else None)
        rest = part.tail(n)
        rest.sent = self._renumbered(rest.sent)
        self.queue.appendleft(rest)
        self.queue.appendleft(head)
        return head

    def _cut(self, n: int) -> _Part:
        """The first ``n`` commands of the queue as one request (a pooled job)."""
        first = self.queue[0]
        if len(first.sent) == n or (len(first.sent) < n and len(self.queue) == 1):
            self.queue.popleft()
            if first.chunks is None and first.sent is self.chunk_plan.chunks[first.chunk]:
                return first   # a whole chunk keeps its encoded body
            first.sent = self._renumbered(first.sent)
            return first
        sent: list[Command] = []
        origin: list[Command] = []
        chunks: list[int] = []
        while self.queue and len(sent) < n:
            part = self.queue[0]
            take = min(n - len(sent), len(part.sent))
            sent += part.sent[:take]
            origin += part.origin[:take]
            chunks += [part.chunk_of(i) for i in range(take)]
            if take == len(part.sent):
                self.queue.popleft()
            else:
                self.queue[0] = part.tail(take)
        return _Part(chunks[0], self._renumbered(sent), origin, chunks=chunks)

    def _renumbered(self, commands: list[Command]) -> list[Command]:
        """``commands`` as a request of their own, numbered from 0. A v2 list command
        references another by its position (``$result[N]``): when one of them does,
        each goes keyed by the index it had, so the references still name the same
        commands (``cmd[1]=...`` is what the portal saw in the list form too)."""
        if not self.v3 and any(c.alias is None and _v2_refs(c) for c in commands):
            commands = [c if c.alias else c._replace(alias=str(c.position)) for c in commands]
        return [c._replace(position=i) for i, c in enumerate(commands)]

    # -- answers -----------------------------------------------------------------
    def _requeue(self, part: _Part, code: str | None, now: float) -> None:
        self.queue.appendleft(part)
        self.resent += len(part.sent)
        if code == RATE_REFUSED:
            # the bucket refused: the engine's limiter paces the next tokens
            self.refused_until = max(self.refused_until, now + 1.0 / max(self.drain, 0.1))
        else:
            self._refused(now)

    def fail(self, key: int, err: BaseException, now: float) -> None:
        """A request that raised: a refusal is waited out and re-sent; a request
        that may have been committed stops the job; anything else too."""
        part = self.flights.pop(key)
        code = _code(err)
        if code in _REFUSED and not getattr(err, "maybe_committed", False):
            self._requeue(part, code, now)
        elif isinstance(err, AjaxError) and err.maybe_committed:
            self.uncertain.append((part, err))
        else:
            self.raised.append((part.chunk, err))

    def feed(self, key: int, answer: AjaxResult, now: float) -> None:
        part = self.flights.pop(key)
        if not answer.is_success:
            codes = {_code(e) for e in answer.get_errors()}
            refused = codes & set(_REFUSED)
            if refused:   # the whole request refused (nothing ran): sent again later
                self._requeue(part, refused.pop(), now)
                return
        try:
            shaped = self.core.shape(part.sent, self.halt, answer, feed=False)
        except Exception as exc:  # noqa: BLE001 - raised by results(), in chunk order
            self.raised.append((part.chunk, exc))
            return
        if answer.is_success:
            data = answer.get_data_or_raise()
            env = data["result"] if not self.v3 else {}
            env = env if isinstance(env, dict) else {}
            sub = shaped.get_data() or {"result": {}}
            full = {k for k, a in sub["result"].items() if a.is_success and not shaped.has_error(k)}
            self._observe(env, data.get("time"), part.started, now, full,
                          units=len(part.sent) if self.v3 else 0)
        self._take(part, shaped, now)

    def _take(self, part: _Part, shaped: Result[Any], now: float) -> None:
        """Keep the answer of each command under the caller's index; re-send the refused."""
        results = (shaped.get_data() or {"result": {}})["result"]
        if not results and "base-error" in shaped.errors:
            for chunk in sorted({part.chunk_of(i) for i in range(len(part.sent))}):
                self.errors[chunk].setdefault("base-error", shaped.errors["base-error"])
            return
        again: list[int] = []
        refusal: str | None = None
        for i, (sent, origin) in enumerate(zip(part.sent, part.origin)):
            answers, errors = self.answers[part.chunk_of(i)], self.errors[part.chunk_of(i)]
            idx, orig = _index(sent), _index(origin)
            err = shaped.errors.get(idx)
            if err is not None and _code(err) in _REFUSED:
                again.append(i)
                refusal = refusal or _code(err)
                continue
            if idx in results:
                answers[orig] = results[idx]
            if err is not None:
                errors[orig] = err
        if again and self.halt:
            # the portal stopped at the refusal: the commands after it did not run
            again.extend(i for i, c in enumerate(part.sent)
                         if i > again[0] and _index(c) not in results and i not in again)
            again.sort()
        if not again:
            return
        # references name earlier commands only: in order, a command goes again only
        # if every command it references goes again with it
        # with halt, nothing after a command that is not re-sent goes either: the
        # portal would have stopped there
        names: set[str] = set()
        keep: list[int] = []
        halted = False
        for i in again:
            sent = part.sent[i]
            refs = set(_v3_refs(sent.query)) if self.v3 else _v2_refs(sent)
            if halted or refs - names:
                orig = _index(part.origin[i])
                answers, errors = self.answers[part.chunk_of(i)], self.errors[part.chunk_of(i)]
                why = ("comes after a command of this halting batch that is not re-sent"
                       if halted else "references the result of a command that was committed "
                       "or is not re-sent")
                errors[orig] = AjaxError(
                    "JSSDK_BATCH_NOT_RESENT", 503,
                    f"batch command #{orig} ({sent.method}) was refused for the portal's limits and "
                    f"{why}: not re-sent")
                answers.pop(orig, None)
                halted = halted or self.halt
            else:
                keep.append(i)
                names.add(_index(sent))
        if keep:
            self._requeue(_Part(part.chunk_of(keep[0]),
                                self._renumbered([part.sent[i] for i in keep]),
                                [part.origin[i] for i in keep],
                                chunks=[part.chunk_of(i) for i in keep] if part.chunks is not None else None),
                          refusal, now)

    # -- the caller's answer ---------------------------------------------------------
    def _where(self, chunk: int, commands: list[Command]) -> list[str]:
        start = self.chunk_plan.starts[chunk]
        return [repr(c.name) if c.name is not None else str(start + c.position) for c in commands]

    def _where_part(self, part: _Part) -> list[str]:
        return [self._where(part.chunk_of(i), [c])[0] for i, c in enumerate(part.origin)]

    def results(self) -> list[Result[Any]]:
        """The shaped ``Result`` of every chunk, in chunk order; raises the first
        error of a request in chunk order, or, if a request may have been
        committed, :class:`BatchMaybeCommittedError`."""
        if self.uncertain:
            raise self._uncertain_error()
        if self.raised:
            raise min(self.raised, key=lambda x: x[0])[1]
        out: list[Result[Any]] = []
        for chunk, commands in enumerate(self.chunk_plan.chunks):
            res: Result[Any] = Result()
            answers, errors = self.answers[chunk], self.errors[chunk]
            ordered = {_index(c): answers[_index(c)] for c in commands if _index(c) in answers}
            for key, err in errors.items():
                res.add_error(err, key)
            res.set_data({"result": ordered, "time": None})
            out.append(res)
        return out

    def _uncertain_error(self) -> BatchMaybeCommittedError:
        maybe = [w for part, _ in sorted(self.uncertain, key=lambda x: x[0].chunk)
                 for w in self._where_part(part)]
        unsent = [w for part in sorted(self.queue, key=lambda p: p.chunk)
                  for w in self._where_part(part)]
        # refused and not re-sent (JSSDK_BATCH_NOT_RESENT): they never ran either
        unsent += [self._where(chunk, [c])[0] for chunk, commands in enumerate(self.chunk_plan.chunks)
                   for c in commands
                   if getattr(self.errors[chunk].get(_index(c)), "code", None) == "JSSDK_BATCH_NOT_RESENT"]
        partial: dict[str, Any] = {}
        for chunk, commands in enumerate(self.chunk_plan.chunks):
            for c in commands:
                got = self.answers[chunk].get(_index(c))
                if got is not None and got.is_success and _index(c) not in self.errors[chunk]:
                    partial[self._where(chunk, [c])[0]] = got.get_data_or_raise()["result"]
        first = self.uncertain[0][1]

        def span(xs: list[str]) -> str:
            return ", ".join(xs[:5]) + (f" ... ({len(xs)} in all)" if len(xs) > 5 else "")

        text = (f"batch_by_chunk stopped: {len(maybe)} command(s) may have been committed "
                f"(their request failed after it was sent: {first.code}); they were not re-sent "
                f"(a write without an honoured Idempotency-Key): {span(maybe)}")
        if unsent:
            text += f"; {len(unsent)} command(s) were never sent: {span(unsent)}"
        return BatchMaybeCommittedError(text, first, maybe_positions=maybe, unsent_positions=unsent,
                                        committed=partial)


# ---------------------------------------------------------------- drivers

def _job(core: _BatchCore, http: "Http", plan: ChunkPlan, bodies: list[Any]) -> WriteJob:
    return WriteJob(core, plan, bodies, max_flights=None, **job_limits(http))


def _log_waiting(http: "Http", job: WriteJob, wait: float) -> None:
    job.waiting_s += min(wait, MAX_SLEEP)
    emit(http.logger, LogLevel.NOTICE, "batch_by_chunk: waiting for the operating budget",
         {"method": job.method, "seconds": round(wait, 1), "used_s": round(job.used_s, 1)},
         event="batch.budget_wait", area="batch")


def _flush(http: "Http", job: WriteJob) -> None:
    notes, job.notes[:] = list(job.notes), []
    for msg, ctx in notes:
        emit(http.logger, LogLevel.NOTICE, msg, ctx, area="batch")


def run_write_job(core: _BatchCore, plan: ChunkPlan, request_id: str | None) -> list[Result[Any]]:
    """The chunks of ``plan`` on the caller's thread (``Http.flights()``, no Python threads)."""
    bodies = [core.body(commands, plan.halt) for commands in plan.chunks]
    http: Http = core.http  # type: ignore[assignment]
    job = _job(core, http, plan, bodies)
    with http.flights() as fl:
        while not job.done:
            reqs, wait = job.next_requests(time.monotonic(), free_tokens(http))
            for key in reqs:
                fl.add(key, "batch", job.body(key), request_id)
            if not fl.active:
                if wait > 0:
                    _log_waiting(http, job, wait)
                    time.sleep(min(wait, MAX_SLEEP))
                    continue
                if job.done:
                    break
                raise SdkError("JSSDK_INTERNAL_ERROR", 500, "batch_by_chunk: the plan has nothing to send")
            for key, res in fl.run():
                now = time.monotonic()
                if isinstance(res, AjaxError):
                    job.fail(key, res, now)
                else:
                    job.feed(key, res, now)
            _flush(http, job)
    return job.results()


async def arun_write_job(client: "AsyncClient", version: ApiVersion, core: _BatchCore,
                         plan: ChunkPlan, request_id: str | None,
                         turn: Callable[[], Any] = lambda: asyncio.sleep(0)) -> list[Result[Any]]:
    """:func:`run_write_job` on an asyncio loop: the same job, each request an
    ``AioMulti`` call of ``client``; cancelling stops the requests in flight."""
    bodies: list[Any] = []
    for commands in plan.chunks:
        bodies.append(core.body(commands, plan.halt))
        await turn()   # no step of the task holds the loop for the whole batch
    http, driver = client._driver(version)
    job = _job(core, http, plan, bodies)
    running: dict[asyncio.Future[_core.Outcome], tuple[int, _Prepared]] = {}
    try:
        while not job.done:
            reqs, wait = job.next_requests(time.monotonic(), free_tokens(http))
            for key in reqs:
                p = _Prepared(http, "batch", job.body(key), request_id)
                running[astart(http, driver, p)] = (key, p)
                await turn()   # encoding 50 commands per request: one request per loop turn
            if not running:
                if wait > 0:
                    _log_waiting(http, job, wait)
                    await asyncio.sleep(min(wait, MAX_SLEEP))
                    continue
                if job.done:
                    break
                raise SdkError("JSSDK_INTERNAL_ERROR", 500, "batch_by_chunk: the plan has nothing to send")
            finished, _ = await asyncio.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
            for fut in finished:
                key, p = running.pop(fut)
                now = time.monotonic()
                try:
                    res = p.finish(http, aresult(p, fut))
                except AjaxError as exc:
                    job.fail(key, exc, now)
                else:
                    job.feed(key, res, now)
                await turn()   # the loop gets a turn between answers
            _flush(http, job)
    finally:
        for fut in running:
            if not fut.done():
                driver.cancel(fut)
            elif not fut.cancelled():
                fut.exception()  # answered, not read: no loop report
    return job.results()
