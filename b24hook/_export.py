"""The fast export of a v2 list: chained keyset pages in batches (docs/export.md).

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

* pages are read in order and reading stops at the first short page: when a
  page has fewer than 50 rows its ``[49]`` does not exist and the portal
  substitutes the deepest existing node (the whole page list, or the whole
  ``$result`` map for a failed command, portal.md §7.2) -- the later pages of
  that batch are junk and are never read;
* every page must continue the walk: its first id above the cursor, its ids
  ascending, none above the shard's upper bound; otherwise the batch is cut
  there and the next batch restarts from the last good id (no gap, no
  duplicate);
* a page without a numeric id under ``id_key`` stops the export with
  ``SdkError("JSSDK_EXPORT_INVALID_ID", 400)`` naming the command.

Sharding: one probe request (a batch of two commands) reads the first page
ascending and the largest id (a one-page descending read); the id range
between them is split into ``shards`` ranges ``(lo, hi]`` walked at once on
the caller's thread: each shard has one batch request in flight on the
engine's multi driver (``Http.flights``, libcurl's multi interface), every
request through the transport's limiter and retry rules. When a shard's answer
arrives its next request is started before its rows are handed to the
consumer, so the portal keeps working while the caller processes a chunk; a
consumer that stops (Ctrl-C, an error, the iterator closed) stops every
request in flight. A bounded shard ends when it reaches its upper id, so no
request is spent on a confirmation page.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Mapping

from . import _core
from ._enums import ApiVersion
from ._errors import AjaxError, SdkError
from ._http import Http, HttpRegistry
from ._logging import LogLevel, emit
from ._progress import ProgressArg, make_progress

if TYPE_CHECKING:
    from ._result import AjaxResult

__all__ = ["export_v2"]

_MIN_SHARD_SPAN = 2500  # ids per shard at least: one full batch


def _container(payload: Any, path: str | None) -> Any:
    if not path:
        return payload
    for seg in path.split("."):
        if not isinstance(payload, Mapping):
            return None
        payload = payload.get(seg)
    return payload


class _Walk:
    """What every shard shares: the request template and the transport."""

    def __init__(self, https: HttpRegistry, method: str, params: Mapping[str, Any] | None, id_key: str,
                 cursor_id_key: str | None, container: str | None, request_id: str | None) -> None:
        self.https = https
        self.method = method
        self.id_key = id_key
        self.ckey = cursor_id_key or id_key
        self.container = container
        self.request_id = request_id
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

    @property
    def http(self) -> Http:
        return self.https.live(ApiVersion.V2)

    def batch(self, cmd: dict[str, str]) -> Mapping[str, Any]:
        return self.envelope(self.http.call("batch", {"halt": 1, "cmd": cmd}, self.request_id))

    def envelope(self, res: AjaxResult) -> Mapping[str, Any]:
        """The ``result`` envelope of a batch answer; its commands' times fed to
        the operating limiter."""
        http = self.http
        if not res.is_success:
            raise SdkError("JSSDK_EXPORT_FAILED", 500,
                           f"export of {self.method}: the batch failed: "
                           + "; ".join(res.get_error_messages()))
        env = res.get_data_or_raise()["result"]  # success: checked above
        env = env if isinstance(env, Mapping) else {}
        times = env.get("result_time")
        if isinstance(times, Mapping):
            for tm in times.values():
                try:
                    http.feed_time(f"batch::{self.method}", tm)
                except Exception:  # noqa: BLE001 - accounting never breaks the export
                    pass
        return env

    def command_error(self, env: Mapping[str, Any], name: str) -> str | None:
        errs = env.get("result_error")
        err = errs.get(name) if isinstance(errs, Mapping) else None
        if err is None:
            return None
        if isinstance(err, Mapping):
            # the core's answer rules, as for every other answer (spec §4.4 A)
            found = _core.answer_error(dict(err))
            if found is not None:
                return f"{found.code}: {found.message}"
        return str(err)

    def probe(self) -> tuple[list[Any], int | None]:
        """First page ascending, and the largest id (None when the list ends here)."""
        flt = {**self.filter, self.gt: self.cursor0}
        first = _core.batch_command(self.method, {**self.base, "filter": flt})
        last_params = {**self.base, "filter": flt, "order": {self.ckey: "DESC"}, "select": [self.ckey]}
        last = _core.batch_command(self.method, last_params)
        env = self.batch({"first": first, "last": last})
        raw = env.get("result")
        res: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        for name in ("first", "last"):
            if name not in res:
                raise SdkError("JSSDK_EXPORT_FAILED", 500, f"export of {self.method}: probe command "
                               f"{name!r} failed: {self.command_error(env, name) or 'no answer'}")
        page = _container(res["first"], self.container)
        top = _container(res["last"], self.container)
        if page == [] or page == {}:
            return [], None
        if not isinstance(page, list) or not isinstance(top, list):
            raise SdkError("JSSDK_EXPORT_FAILED", 500, f"export of {self.method}: the answer has no "
                           f"list{' under ' + repr(self.container) if self.container else ''}; "
                           f"set custom_key_for_result")
        if len(page) < _core.V2_PAGE_SIZE:
            return page, None
        hi = _core.parse_cursor(top[0].get(self.id_key) if top and isinstance(top[0], Mapping) else None)
        lo = _core.parse_cursor(page[-1].get(self.id_key) if isinstance(page[-1], Mapping) else None)
        if hi is None or lo is None:
            raise self.bad_id("probe command 'first'")
        return page, hi

    def bad_id(self, where: str) -> SdkError:
        return SdkError("JSSDK_EXPORT_INVALID_ID", 400,
                        f"export of {self.method}: {where} returned rows without a numeric "
                        f"{self.id_key!r}; set id_key to the id field of the rows (and cursor_id_key "
                        f"to the one used in filter/order)")

    def bad_page(self, env: Mapping[str, Any], bad: int, new_cursor: int, reason: str | None) -> None:
        """A batch cut short at command ``bad``: raise, or log and go on."""
        name = f"p{bad}"
        err = self.command_error(env, name)
        where = f"command {name!r} ({self.method}, ids after {new_cursor})"
        if err is not None:
            raise SdkError("JSSDK_EXPORT_FAILED", 500, f"export: {where} failed: {err}")
        if reason == "no numeric id":
            raise self.bad_id(where)
        if reason in ("not a list", "no container"):
            raise SdkError("JSSDK_EXPORT_FAILED", 500, f"export: {where}: the answer has no "
                           f"list of rows; set custom_key_for_result")
        if bad == 0:
            raise SdkError("JSSDK_EXPORT_FAILED", 500, f"export: {where}: {reason}")
        emit(self.https.get(ApiVersion.V2).logger, LogLevel.NOTICE, "export: batch cut short, resuming",
             {"method": self.method, "command": name, "reason": reason}, area="export")


class _Shard:
    """The walk of one id range ``(lo, hi]``: one batch request at a time."""

    __slots__ = ("walk", "cursor", "hi", "n", "base")

    def __init__(self, walk: _Walk, lo: int, hi: int) -> None:
        self.walk = walk
        self.cursor = lo
        self.hi = hi
        self.n = 0
        self.base = {**walk.base, "filter": {**walk.filter, walk.le: hi}}

    def request(self) -> dict[str, Any]:
        """The body of the next batch: up to 50 chained pages after the cursor."""
        w = self.walk
        self.n = _core.export_commands(self.cursor, self.hi)
        return {"halt": 1, "cmd": _core.export_batch(w.method, self.base, w.ckey, self.cursor, self.n,
                                                      w.container, w.id_key)}

    def take(self, env: Mapping[str, Any]) -> tuple[list[Any], bool]:
        """The rows of an answer in walk order, and whether the shard is done."""
        w = self.walk
        rows, new_cursor, done, bad, reason = _core.export_collect(
            env.get("result"), self.n, w.container, w.id_key, self.cursor, self.hi)
        if done:
            return rows, True
        if bad >= 0:
            w.bad_page(env, bad, new_cursor, reason)
        if new_cursor <= self.cursor:
            raise SdkError("JSSDK_EXPORT_FAILED", 500,
                           f"export of {w.method}: no progress after id {self.cursor}")
        self.cursor = new_cursor
        return rows, False


def export_v2(https: HttpRegistry, method: str, params: Mapping[str, Any] | None = None, *,
              id_key: str = "ID", cursor_id_key: str | None = None,
              custom_key_for_result: str | None = None, request_id: str | None = None,
              progress: ProgressArg = None, shards: int = 4) -> Iterator[list[Any]]:
    """Every row of a v2 list method, in chunks of up to 2,500 rows per request.

    Chunks of one shard come in ascending id order; with ``shards > 1`` the
    chunks of different shards interleave (``shards=1`` gives one ascending
    stream). Memory holds at most ``shards`` answers at a time.
    """
    if not isinstance(shards, int) or isinstance(shards, bool) or not 1 <= shards <= 64:
        raise ValueError("shards must be an integer between 1 and 64")
    walk = _Walk(https, method, params, id_key, cursor_id_key, custom_key_for_result, request_id)
    return _run(walk, shards, progress)


def _run(walk: _Walk, shards: int, progress: ProgressArg) -> Iterator[list[Any]]:
    prog = make_progress(progress, f"export {walk.method}")
    try:
        first, hi = walk.probe()
        if first:
            if prog is not None:
                if hi is None:
                    prog.set_total(len(first))
                else:
                    lo0 = _core.parse_cursor(first[-1].get(walk.id_key))
                    prog.set_total(len(first) + max(0, hi - (lo0 or 0)))
                prog.add(len(first))
            yield first
        if hi is None:
            return
        lo = _core.parse_cursor(first[-1].get(walk.id_key))
        assert lo is not None
        if hi <= lo:
            return
        bounds = _core.export_shards(lo, hi, shards, _MIN_SHARD_SPAN)
        walks = [_Shard(walk, a, b) for a, b in zip([lo, *bounds[:-1]], bounds)]
        with walk.http.flights() as flights:
            for i, shard in enumerate(walks):
                flights.add(i, "batch", shard.request(), walk.request_id)
            while flights.active:
                for i, res in flights.run():
                    if isinstance(res, AjaxError):
                        raise res
                    rows, done = walks[i].take(walk.envelope(res))
                    if not done:  # the portal works on it while the consumer reads
                        flights.add(i, "batch", walks[i].request(), walk.request_id)
                    if rows:
                        if prog is not None:
                            prog.add(len(rows))
                        yield rows
    finally:
        if prog is not None:
            prog.close()
