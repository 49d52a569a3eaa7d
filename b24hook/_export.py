"""The fast export of a v2 list: chained keyset pages in batches, planned (docs/export.md).

One HTTP request carries a batch of up to 50 commands ``p0..p49``; command
``p0`` filters ``>ID`` with the known cursor, command ``pk`` with the
reference ``0$result[p{k-1}][<container>][49][<id>]`` (the last id of the
previous page), all with ``start=-1`` (no COUNT on the server). One request
thus moves up to 2,500 rows.

The leading ``0`` makes the reference *embedded* in a longer string, which
the portal substitutes only with a scalar ("0" + "123" reads as 123). A
whole-value reference whose ``[49]`` does not exist (a short or failed page)
would be replaced by the deepest existing node -- a whole list or map pasted
into the filter (portal.md §7.2; the emulator answers 500 for the batch);
embedded, it stays literal text that reads as 0, so the junk command is a
cheap, harmless page that is never read.

Correctness guards (the C core's ``export_collect``):

* pages are read in order and reading stops at the first short page;
* every page must continue the walk: its first id above the cursor, its ids
  ascending, none above the shard's upper bound; otherwise the batch is cut
  there and the next batch restarts from the last good id (no gap, no
  duplicate);
* a page without a numeric id under ``id_key`` stops the export with
  ``SdkError("JSSDK_EXPORT_INVALID_ID", 400)`` naming the command.

The job is :class:`ExportJob`, one sans-I/O object: it says which batches to
send next (:meth:`ExportJob.next_requests`, asking the C planner
``_core.export_plan`` how many requests to keep in flight, how many chained
pages per batch and whether to wait for the operating budget), takes each
answer (:meth:`ExportJob.feed` -> rows) and keeps the checkpoint (per-shard
last delivered id). Two thin drivers run it: :func:`export_v2` on the
caller's thread over ``Http.flights()`` (libcurl's multi interface, no Python
threads) and :func:`aexport_v2` on an asyncio loop over ``_core.AioMulti``.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncGenerator, Iterator, Mapping, MutableMapping, Union

from . import _core
from ._enums import ApiVersion
from ._errors import AjaxError, SdkError
from ._http import AsyncClient, Http, HttpRegistry
from ._logging import LogLevel, emit
from ._pipeline import _Prepared, aresult, astart
from ._pacing import (BUDGET_REFUSED, DEFAULT_BURST, DEFAULT_DRAIN, DEFAULT_WINDOW_S, MAX_SLEEP, PacedJob,
                      free_tokens, job_limits, num)
from ._progress import Progress, ProgressArg, make_progress

if TYPE_CHECKING:
    from ._result import AjaxResult

__all__ = ["ExportJob", "aexport_v2", "export_v2"]

PAGE = _core.V2_PAGE_SIZE
CHECKPOINT_VERSION = 1

#: ``resume=``: a path (the checkpoint file, written after every delivered chunk
#: and removed at the end) or a mutable mapping updated in place (the caller persists it).
ResumeArg = Union[str, "os.PathLike[str]", MutableMapping[str, Any], None]


def _container(payload: Any, path: str | None) -> Any:
    if not path:
        return payload
    for seg in path.split("."):
        if not isinstance(payload, Mapping):
            return None
        payload = payload.get(seg)
    return payload


class _Shard:
    """One id range ``(cursor, hi]``: at most one batch request at a time."""

    __slots__ = ("cursor", "hi", "delivered", "busy")

    def __init__(self, cursor: int, hi: int) -> None:
        self.cursor = cursor        # the last id read
        self.hi = hi
        self.delivered = cursor     # the last id handed to the consumer (the checkpoint)
        self.busy = False

    @property
    def done(self) -> bool:
        return self.cursor >= self.hi


@dataclass
class _Flight:
    shard: _Shard | None   # None: the probe
    pages: int
    sent: float


@dataclass
class Delivery:
    """Rows of one answer, in walk order, and what delivering them commits."""

    rows: list[Any]
    shard: _Shard | None
    cursor: int


class ExportJob(PacedJob):
    """The export of one v2 list as a sans-I/O machine.

    ``next_requests(now, tokens)`` -> ``([(key, batch_params)], wait_s)``: the
    batches to start now and, when none may start, how long to wait (the
    operating budget); ``feed(key, result, now)`` -> ``[Delivery]``;
    ``fail(key, error, now)`` for a request that raised (a budget refusal is
    re-planned, anything else raises); ``delivered(d)`` once the consumer has
    the rows; ``checkpoint()`` -> the resume token. Keys are ints (0 is the probe).
    """

    kind = "export"

    def __init__(self, method: str, params: Mapping[str, Any] | None, *, id_key: str = "ID",
                 cursor_id_key: str | None = None, container: str | None = None,
                 max_flights: int | None = None, burst: float = DEFAULT_BURST, drain: float = DEFAULT_DRAIN,
                 budget_limit_s: float = 0.0, window_s: float = DEFAULT_WINDOW_S,
                 checkpoint: Mapping[str, Any] | None = None) -> None:
        super().__init__(method, max_flights=max_flights, burst=burst, drain=drain,
                         budget_limit_s=budget_limit_s, window_s=window_s, batch_units=PAGE)
        self.id_key = id_key
        self.ckey = cursor_id_key or id_key
        self.container = container
        base = dict(params or {})
        base.pop("order", None)
        flt = base.pop("filter", None) or {}
        if not isinstance(flt, Mapping):
            raise TypeError(f"{method}: v2 params['filter'] must be a mapping")
        self.filter = dict(flt)
        self.gt = ">" + self.ckey
        self.le = "<=" + self.ckey
        own = self.filter.pop(self.gt, None)
        start = _core.parse_cursor(own) if own is not None else None
        self.cursor0 = start if start is not None else 0
        select = base.get("select")
        if isinstance(select, (list, tuple)) and select and self.ckey not in select and "*" not in select:
            base["select"] = [*select, self.ckey]
        base["order"] = {self.ckey: "ASC"}
        base["start"] = -1
        self.base = base
        self.fingerprint = hashlib.sha256(json.dumps(
            [method, base, self.filter, self.cursor0, id_key, self.ckey, container],
            sort_keys=True, default=str).encode()).hexdigest()[:20]
        self.density = 1.0                         # rows per id
        # state
        self.shards: list[_Shard] = []
        self.flights: dict[int, _Flight] = {}
        self._next_key = 1
        self.rows = 0
        self.requests = 0
        self.total: int | None = None
        self.phase = "probe"
        if checkpoint is not None:
            self._restore(checkpoint)

    # -- checkpoint ---------------------------------------------------------
    def _restore(self, cp: Mapping[str, Any]) -> None:
        if cp.get("version") != CHECKPOINT_VERSION or cp.get("fingerprint") != self.fingerprint:
            raise ValueError("resume: the checkpoint is of another export (method, params or keys differ)")
        shards = cp.get("shards")
        if not isinstance(shards, list):
            raise ValueError("resume: the checkpoint has no shards")
        for item in shards:
            if (not isinstance(item, list) or len(item) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in item)):
                raise ValueError("resume: a shard must be [last_id, upper_id]")
            if item[0] < item[1]:
                self.shards.append(_Shard(item[0], item[1]))
        rows = cp.get("rows")
        self.rows = rows if isinstance(rows, int) and not isinstance(rows, bool) else 0
        total = cp.get("total")
        self.total = total if isinstance(total, int) and not isinstance(total, bool) else None
        d = num(cp.get("density"))
        self.density = d if d is not None and 0 < d <= 1 else 1.0
        self.phase = "walk" if self.shards else "done"

    def checkpoint(self) -> dict[str, Any]:
        """The resume token: per shard ``[last delivered id, upper id]`` (JSON-ready)."""
        return {"version": CHECKPOINT_VERSION, "method": self.method, "fingerprint": self.fingerprint,
                "shards": [[s.delivered, s.hi] for s in self.shards if s.delivered < s.hi],
                "rows": self.rows, "total": self.total, "density": round(self.density, 6),
                "done": self.phase == "done" and all(s.delivered >= s.hi for s in self.shards)}

    @property
    def started(self) -> bool:
        """The probe's rows were delivered (a checkpoint can resume)."""
        return self.phase != "probe"

    @property
    def done(self) -> bool:
        return self.phase == "done"

    # -- what to send ----------------------------------------------------------
    def _pages_left(self) -> float:
        return sum(max(0, s.hi - s.cursor) for s in self.shards) * self.density / PAGE

    def _need(self, s: _Shard) -> int:
        dense = _core.export_commands(s.cursor, s.hi)
        est = math.ceil(max(1, s.hi - s.cursor) * self.density / PAGE)
        return max(1, min(dense, est))

    def _plan_export(self, now: float, tokens: float) -> tuple[int, int, float, bool, float]:
        return self._plan(now, tokens, self._pages_left(), len(self.flights),
                          sum(f.pages for f in self.flights.values()))

    def _split(self, want: int, pages: int) -> None:
        """More streams wanted than shards to walk: split the widest idle shard
        evenly, each piece at least one batch of ``pages`` pages."""
        min_span = max(1, math.ceil(pages * PAGE / max(self.density, 1e-9)))
        while True:
            idle = [s for s in self.shards if not s.busy and not s.done]
            missing = want - len(self.flights) - len(idle)
            if missing <= 0 or not idle:
                return
            s = max(idle, key=lambda x: x.hi - x.cursor)
            bounds = _core.export_shards(s.cursor, s.hi, missing + 1, min_span)
            if len(bounds) < 2:
                return
            los = [s.cursor, *bounds[:-1]]
            s.hi = bounds[0]
            for lo, hi in zip(los[1:], bounds[1:]):
                self.shards.append(_Shard(lo, hi))

    def _key(self) -> int:
        k = self._next_key
        self._next_key += 1
        return k

    def next_requests(self, now: float, tokens: float) -> tuple[list[tuple[int, dict[str, Any]]], float]:
        if self.phase == "done":
            return [], 0.0
        if self.phase == "probe":
            if 0 in self.flights:
                return [], 0.0
            if now < self.refused_until:
                return [], self.refused_until - now
            self.flights[0] = _Flight(None, 1, now)
            self.requests += 1
            return [(0, self._probe_request())], 0.0
        flights, pages, wait, bound, _eta = self._plan_export(now, tokens)
        if wait > 0:
            return [], wait
        out: list[tuple[int, dict[str, Any]]] = []
        self._split(flights, pages)
        idle = sorted((s for s in self.shards if not s.busy and not s.done),
                      key=lambda x: x.hi - x.cursor, reverse=True)
        for s in idle:
            if len(self.flights) >= flights:
                break
            need = self._need(s)
            # a shard's last batch may run a little over the plan: no 1-page tail request
            # (never when the budget sets the pace: the plan's pages are what it allows)
            n = need if not bound and need <= pages + max(2, pages // 4) else min(pages, need)
            key = self._key()
            s.busy = True
            self.flights[key] = _Flight(s, n, now)
            self.requests += 1
            out.append((key, {"halt": 1, "cmd": _core.export_batch(
                self.method, {**self.base, "filter": {**self.filter, self.le: s.hi}}, self.ckey,
                s.cursor, n, self.container, self.id_key)}))
        return out, 0.0

    def _probe_request(self) -> dict[str, Any]:
        flt = {**self.filter, self.gt: self.cursor0}
        first = _core.batch_command(self.method, {**self.base, "filter": flt})
        last_params = {**self.base, "filter": flt, "order": {self.ckey: "DESC"}, "select": [self.ckey]}
        last = _core.batch_command(self.method, last_params)
        return {"halt": 1, "cmd": {"first": first, "last": last}}

    # -- answers -----------------------------------------------------------------
    def _command_error(self, env: Mapping[str, Any], name: str) -> tuple[str | None, str | None]:
        errs = env.get("result_error")
        err = errs.get(name) if isinstance(errs, Mapping) else None
        if err is None:
            return None, None
        if isinstance(err, Mapping):
            found = _core.answer_error(dict(err))
            if found is not None:
                return found.code, f"{found.code}: {found.message}"
            code = err.get("error")
            return (str(code) if code else None), str(err)
        return None, str(err)

    def feed(self, key: int, res: AjaxResult, now: float) -> list[Delivery]:
        flight = self.flights.pop(key)
        if not res.is_success:
            if any(getattr(e, "code", None) == BUDGET_REFUSED for e in res.get_errors()):
                if flight.shard is not None:
                    flight.shard.busy = False
                self._refused(now)   # a whole batch refused (observed billing): re-sent later
                return []
            raise SdkError("JSSDK_EXPORT_FAILED", 500,
                           f"export of {self.method}: the batch failed: "
                           + "; ".join(res.get_error_messages()))
        data = res.get_data_or_raise()
        env = data["result"]
        env = env if isinstance(env, Mapping) else {}
        if flight.shard is None:
            return self._feed_probe(env, data.get("time"), flight, now)
        return self._feed_shard(env, data.get("time"), flight, now)

    def fail(self, key: int, err: BaseException, now: float) -> None:
        """A request that raised: a budget refusal is waited out and re-sent; else raise."""
        flight = self.flights.pop(key)
        if isinstance(err, AjaxError) and err.code == BUDGET_REFUSED:
            if flight.shard is not None:
                flight.shard.busy = False
            self._refused(now)
            return
        raise err

    def _feed_probe(self, env: Mapping[str, Any], top: Any, flight: _Flight, now: float) -> list[Delivery]:
        raw = env.get("result")
        res: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        for name in ("first", "last"):
            if name not in res:
                code, text = self._command_error(env, name)
                if code == BUDGET_REFUSED:
                    self._refused(now)
                    return []
                raise SdkError("JSSDK_EXPORT_FAILED", 500, f"export of {self.method}: probe command "
                               f"{name!r} failed: {text or 'no answer'}")
        page = _container(res["first"], self.container)
        top_page = _container(res["last"], self.container)
        full = {"first"} if isinstance(page, list) and len(page) == PAGE else set()
        self._observe(env, top, flight.sent, now, full)
        if page == [] or page == {}:
            self.phase = "done"
            return []
        if not isinstance(page, list) or not isinstance(top_page, list):
            raise SdkError("JSSDK_EXPORT_FAILED", 500, f"export of {self.method}: the answer has no "
                           f"list{' under ' + repr(self.container) if self.container else ''}; "
                           f"set custom_key_for_result")
        lo = _core.parse_cursor(page[-1].get(self.id_key) if isinstance(page[-1], Mapping) else None)
        if len(page) < PAGE:
            self.phase = "done"
            self.total = len(page)
            return [Delivery(page, None, 0)]
        hi = _core.parse_cursor(top_page[0].get(self.id_key)
                                if top_page and isinstance(top_page[0], Mapping) else None)
        first_id = _core.parse_cursor(page[0].get(self.id_key) if isinstance(page[0], Mapping) else None)
        if hi is None or lo is None or first_id is None:
            raise self.bad_id("probe command 'first'")
        if lo > first_id:
            self.density = min(1.0, (PAGE - 1) / (lo - first_id))
        self.total = PAGE + max(0, round((hi - lo) * self.density))
        if hi > lo:
            self.shards = [_Shard(lo, hi)]
        self.phase = "walk" if self.shards else "done"
        return [Delivery(page, None, 0)]

    def _feed_shard(self, env: Mapping[str, Any], top: Any, flight: _Flight, now: float) -> list[Delivery]:
        s = flight.shard
        assert s is not None
        s.busy = False
        results = env.get("result")
        rows, new_cursor, done, bad, reason = _core.export_collect(
            results, flight.pages, self.container, self.id_key, s.cursor, s.hi)
        full = {f"p{i}" for i in range(len(rows) // PAGE)}
        self._observe(env, top, flight.sent, now, full)
        if not done and bad >= 0:
            code, text = self._command_error(env, f"p{bad}")
            where = f"command 'p{bad}' ({self.method}, ids after {new_cursor})"
            if code == BUDGET_REFUSED:
                self._refused(now)   # the rows before it count; the rest after the reset
            elif text is not None:
                raise SdkError("JSSDK_EXPORT_FAILED", 500, f"export: {where} failed: {text}")
            elif reason == "no numeric id":
                raise self.bad_id(where)
            elif reason in ("not a list", "no container"):
                raise SdkError("JSSDK_EXPORT_FAILED", 500, f"export: {where}: the answer has no "
                               f"list of rows; set custom_key_for_result")
            elif bad == 0:
                raise SdkError("JSSDK_EXPORT_FAILED", 500, f"export: {where}: {reason}")
            else:
                self.notes.append(("export: batch cut short, resuming",
                                   {"method": self.method, "command": f"p{bad}", "reason": reason}))
        if rows:
            walked = new_cursor - s.cursor
            if walked > 0 and len(rows) >= PAGE:
                d = len(rows) / walked
                self.density = min(1.0, 0.7 * self.density + 0.3 * d)
        if done:
            new_cursor = max(new_cursor, s.hi)
        s.cursor = new_cursor
        if all(x.done for x in self.shards) and not self.flights:
            self.phase = "done"
        return [Delivery(rows, s, new_cursor)] if rows or done else []

    def delivered(self, d: Delivery) -> None:
        """The consumer has the rows of ``d``: the checkpoint moves past them."""
        self.rows += len(d.rows)
        if d.shard is not None:
            d.shard.delivered = max(d.shard.delivered, d.cursor)

    def bad_id(self, where: str) -> SdkError:
        return SdkError("JSSDK_EXPORT_INVALID_ID", 400,
                        f"export of {self.method}: {where} returned rows without a numeric "
                        f"{self.id_key!r}; set id_key to the id field of the rows (and cursor_id_key "
                        f"to the one used in filter/order)")

    def status(self) -> str:
        _, pages, _, bound, eta = self.plan
        return (f"{len(self.flights)} in flight x {pages} pages"
                + (", budget-bound" if bound else "") + (f", eta {eta:.0f} s" if eta >= 1 else ""))


# ---------------------------------------------------------------- drivers

class _Resume:
    """``resume=``: load the checkpoint, save it after every delivered chunk."""

    __slots__ = ("path", "token")

    def __init__(self, resume: ResumeArg) -> None:
        self.path: str | None = None
        self.token: MutableMapping[str, Any] | None = None
        if resume is None:
            return
        if isinstance(resume, MutableMapping):
            self.token = resume
        elif isinstance(resume, (str, os.PathLike)):
            self.path = os.fspath(resume)
        else:
            raise TypeError("resume must be a path or a mutable mapping (the checkpoint)")

    def load(self) -> Mapping[str, Any] | None:
        if self.token is not None:
            return self.token if self.token else None
        if self.path is not None and os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                try:
                    cp = json.load(f)
                except ValueError as exc:
                    raise ValueError(f"resume: {self.path} is not a checkpoint") from exc
            if not isinstance(cp, dict):
                raise ValueError(f"resume: {self.path} is not a checkpoint")
            return cp
        return None

    def save(self, job: ExportJob) -> None:
        if not job.started:
            return
        cp = job.checkpoint()
        if self.token is not None:
            self.token.clear()
            self.token.update(cp)
        if self.path is not None:
            if cp["done"]:
                try:
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
                return
            tmp = self.path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(cp, f)
            os.replace(tmp, self.path)


def _job(http: Http, method: str, params: Mapping[str, Any] | None, id_key: str,
         cursor_id_key: str | None, container: str | None, shards: int | None,
         store: _Resume) -> ExportJob:
    if shards is not None and (not isinstance(shards, int) or isinstance(shards, bool)
                               or not 1 <= shards <= 250):
        raise ValueError("shards must be None or an integer between 1 and 250")
    return ExportJob(method, params, id_key=id_key, cursor_id_key=cursor_id_key, container=container,
                     max_flights=shards, checkpoint=store.load(), **job_limits(http))


class _Report:
    """Progress to the bar/callback and the logger: rows, rate, time left, budget waits."""

    __slots__ = ("prog", "http", "job", "t0", "last_log")

    def __init__(self, prog: Progress | None, http: Http, job: ExportJob) -> None:
        self.prog, self.http, self.job = prog, http, job
        self.t0 = time.monotonic()
        self.last_log = self.t0

    def rows(self, n: int) -> None:
        job = self.job
        if self.prog is not None:
            if job.total is not None and self.prog.total != job.total:
                self.prog.set_total(max(job.total, job.rows))
            self.prog.note(job.status())
            self.prog.add(n)
        now = time.monotonic()
        if now - self.last_log >= 5.0:
            self.last_log = now
            rate = job.rows / max(now - self.t0, 1e-9)
            left = (job.total - job.rows) / rate if job.total and rate > 0 else None
            emit(self.http.logger, LogLevel.INFO, "export: progress",
                 {"method": job.method, "rows": job.rows, "rows_per_s": round(rate),
                  "seconds_left": None if left is None else round(left), "plan": job.status()},
                 event="export.progress", area="export")

    def flush(self) -> None:
        notes, self.job.notes[:] = list(self.job.notes), []
        for msg, ctx in notes:
            emit(self.http.logger, LogLevel.NOTICE, msg, ctx, area="export")

    def waiting(self, seconds: float, sleep: float) -> None:
        job = self.job
        job.waiting_s += sleep
        if self.prog is not None:
            self.prog.note(f"waiting {seconds:.0f} s for the operating budget")
        emit(self.http.logger, LogLevel.NOTICE, "export: waiting for the operating budget",
             {"method": job.method, "seconds": round(seconds, 1), "used_s": round(job.used_s, 1),
              "rows": job.rows}, event="export.budget_wait", area="export")

    @classmethod
    def open(cls, progress: ProgressArg, http: Http, job: ExportJob) -> "_Report":
        """The report of a starting (or resuming) export."""
        rep = cls(make_progress(progress, f"export {job.method}"), http, job)
        if job.started:
            emit(http.logger, LogLevel.NOTICE, "export: resuming from a checkpoint",
                 {"method": job.method, "rows": job.rows, "shards": len(job.shards)},
                 event="export.resume", area="export")
            if rep.prog is not None:
                rep.prog.set_total(job.total)
                rep.prog.add(job.rows)
        return rep


def _deliver(out: list[Delivery], job: ExportJob, rep: _Report, store: _Resume) -> Iterator[list[Any]]:
    """Hand the rows over; each moves the checkpoint once the consumer asks for more."""
    for d in out:
        if d.rows:
            rep.rows(len(d.rows))
            yield d.rows
        job.delivered(d)
        store.save(job)


def export_v2(https: HttpRegistry, method: str, params: Mapping[str, Any] | None = None, *,
              id_key: str = "ID", cursor_id_key: str | None = None,
              custom_key_for_result: str | None = None, request_id: str | None = None,
              progress: ProgressArg = None, shards: int | None = None,
              resume: ResumeArg = None) -> Iterator[list[Any]]:
    """Every row of a v2 list method, in chunks of up to 2,500 rows per request.

    ``shards``: the most requests in flight at once (None: the planner's choice,
    up to the rate bucket's burst); ``shards=1`` gives one ascending stream.
    ``resume``: a checkpoint path or mapping (docs/export.md "Resume").
    """
    http = https.live(ApiVersion.V2)
    store = _Resume(resume)
    job = _job(http, method, params, id_key, cursor_id_key, custom_key_for_result, shards, store)
    return _run_sync(https, job, store, request_id, progress)


def _run_sync(https: HttpRegistry, job: ExportJob, store: _Resume, request_id: str | None,
              progress: ProgressArg) -> Iterator[list[Any]]:
    http = https.live(ApiVersion.V2)
    rep = _Report.open(progress, http, job)
    prog = rep.prog
    try:
        with http.flights() as fl:
            while not job.done or job.flights:
                reqs, wait = job.next_requests(time.monotonic(), free_tokens(http))
                for key, body in reqs:
                    fl.add(key, "batch", body, request_id)
                if not fl.active:
                    if wait > 0:
                        rep.waiting(wait, min(wait, MAX_SLEEP))
                        time.sleep(min(wait, MAX_SLEEP))   # then plan again
                        continue
                    if job.done:
                        break
                    raise SdkError("JSSDK_EXPORT_FAILED", 500,
                                   f"export of {job.method}: the plan has nothing to send")
                out: list[Delivery] = []
                for key, res in fl.run():
                    now = time.monotonic()
                    if isinstance(res, AjaxError):
                        job.fail(key, res, now)
                    else:
                        out.extend(job.feed(key, res, now))
                rep.flush()
                if not job.done:  # the portal works on the next batches while the consumer reads
                    for key, body in job.next_requests(time.monotonic(), free_tokens(http))[0]:
                        fl.add(key, "batch", body, request_id)
                yield from _deliver(out, job, rep, store)
        store.save(job)
    finally:
        if prog is not None:
            prog.close()


async def aexport_v2(client: AsyncClient, method: str, params: Mapping[str, Any] | None = None, *,
                     id_key: str = "ID", cursor_id_key: str | None = None,
                     custom_key_for_result: str | None = None, request_id: str | None = None,
                     progress: ProgressArg = None, shards: int | None = None,
                     resume: ResumeArg = None) -> AsyncGenerator[list[Any], None]:
    """:func:`export_v2` on an asyncio loop: the same job, each batch an
    ``AioMulti`` call of ``client`` (an ``AsyncB24Hook``, or what its actions see of it)."""
    http, driver = client._driver(ApiVersion.V2)
    store = _Resume(resume)
    job = _job(http, method, params, id_key, cursor_id_key, custom_key_for_result, shards, store)
    rep = _Report.open(progress, http, job)
    prog = rep.prog
    # each batch is a call of the driver (its future), no Task per request: a
    # planned round of fifty requests starts in one cheap step
    tasks: dict[asyncio.Future[_core.Outcome], tuple[int, _Prepared]] = {}

    async def start() -> float:
        reqs, wait = job.next_requests(time.monotonic(), free_tokens(http))
        for n, (key, body) in enumerate(reqs):
            if n:
                # one request started per turn of the loop: a planned round of ~50
                # requests opens ~50 connections, and curl's first step of each (the
                # connect, the TLS hello) runs where it was started; in one turn
                # their sum held the loop for tens of milliseconds
                await asyncio.sleep(0)
            p = _Prepared(http, "batch", body, request_id)
            tasks[astart(http, driver, p)] = (key, p)
        return wait

    def answer(fut: asyncio.Future[_core.Outcome], p: _Prepared) -> AjaxResult:
        return p.finish(http, aresult(p, fut))

    try:
        while not job.done or tasks:
            wait = await start()
            if not tasks:
                if wait > 0:
                    rep.waiting(wait, min(wait, MAX_SLEEP))
                    await asyncio.sleep(min(wait, MAX_SLEEP))
                    continue
                if job.done:
                    break
                raise SdkError("JSSDK_EXPORT_FAILED", 500,
                               f"export of {job.method}: the plan has nothing to send")
            finished, _ = await asyncio.wait(list(tasks), return_when=asyncio.FIRST_COMPLETED)
            for turn, task in enumerate(finished):
                if turn:
                    # one answer per turn of the loop: answers that arrived together
                    # (each up to 2,500 rows) are not all taken in one step
                    await asyncio.sleep(0)
                key, p = tasks.pop(task)
                now = time.monotonic()
                out: list[Delivery] = []
                try:
                    res = answer(task, p)
                except Exception as exc:  # noqa: BLE001 - the job decides: wait, re-send or raise
                    job.fail(key, exc, now)
                else:
                    out = job.feed(key, res, now)
                rep.flush()
                if not job.done:
                    await start()
                for rows in _deliver(out, job, rep, store):
                    yield rows
        store.save(job)
    finally:
        for fut in tasks:
            driver.cancel(fut)  # stops its transfer or wait; the driver serves the others
        tasks.clear()
        if prog is not None:
            prog.close()
