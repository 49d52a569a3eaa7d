"""Large write jobs through ``batch_by_chunk`` (issue 12 item 5): the planner
spends the bucket and paces the operating budget, refused sub-calls are
re-sent alone, and nothing is ever written twice.

Emulator with standard limits and real (scaled) server time; small sizes; no
timing assertions: counts in the emulator's store and its statuses.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace
from typing import Any, Iterator
from urllib.parse import unquote

import pytest

from b24hook import AsyncB24Hook, B24Hook, BatchMaybeCommittedError, _batch
from b24hook._enums import ApiVersion
from b24hook._errors import AjaxError
from b24hook._result import Result
from b24hook._write_job import WriteJob
from b24hook.emulator import EmulatorPortal

ET = 2


@pytest.fixture(scope="module")
def wp() -> Iterator[EmulatorPortal]:
    p = EmulatorPortal(db=":memory:").start()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def timed(wp: EmulatorPortal) -> Iterator[EmulatorPortal]:
    """Standard limits; 0.1 s of portal server time per add, the clock 100x faster
    (a 600 s budget window is 6 s here)."""
    wp.configure(rate_limit="standard", operating_limit=480, sleep_simulated_cost=True,
                 time_scale=100.0, exec_time_per_call={"crm.item.add": 0.1, "tasks.task.add": 0.1})
    wp.reset_limits()
    wp.reset_stats()
    wp.clear_faults()
    try:
        yield wp
    finally:
        wp.clear_faults()
        wp.configure(rate_limit=None, operating_limit=None, sleep_simulated_cost=False, time_scale=1.0,
                     exec_time_per_call=0.0, batch_billing="documented")
        wp.reset_limits()


def titles(p: EmulatorPortal, tag: str) -> Counter[str]:
    """How many rows the store holds of each title of this test's job (crm items and tasks)."""
    st = p.store
    with st.lock:
        rows = st.conn.execute("SELECT title FROM crm_item WHERE title LIKE ?", (tag + ":%",)).fetchall()
        rows += st.conn.execute("SELECT title FROM tasks WHERE title LIKE ?", (tag + ":%",)).fetchall()
    return Counter(r[0] for r in rows)


def adds(tag: str, n: int) -> list[tuple[str, dict[str, Any]]]:
    return [("crm.item.add", {"entityTypeId": ET, "fields": {"title": f"{tag}:{i}"}}) for i in range(n)]


def hook(p: EmulatorPortal, budget_s: float | None = None, **kw: Any) -> B24Hook:
    rp: dict[str, Any] = dict(kw)
    if budget_s is not None:
        rp["operating_limit"] = {"limit_ms": int(budget_s * 1000)}
    b = B24Hook.from_webhook_url(p.v2_url, verify=p.ca_path, restriction_params=rp or None)
    b.set_logger(None)
    return b


def statuses(p: EmulatorPortal) -> dict[int, int]:
    return {int(k): v for k, v in p.stats()["by_status"].items()}


def _sans_io_job(calls: list[Any], halt: bool = False, budget_limit_s: float = 480) -> WriteJob:
    """A WriteJob over a core with no transport (the standard bucket; the standard
    budget unless ``budget_limit_s`` says otherwise, 0 = none); ``job.core`` builds bodies."""
    plan = _batch.plan_chunks(calls, halt)
    core = _batch._BatchCore(lambda: SimpleNamespace(logger=None), ApiVersion.V2)
    return WriteJob(core, plan, [core.body(c, halt) for c in plan.chunks],
                    burst=50, drain=2, budget_limit_s=budget_limit_s, window_s=600)


def _ran_first_refused(job: WriteJob, part: Any, refused: tuple[str, ...]) -> None:
    """Feed ``job`` the answer to ``part`` in which the portal ran command 0 and
    refused the commands ``refused`` for the operating budget."""
    shaped: Result[Any] = Result()
    for k in refused:
        shaped.add_error(AjaxError("OPERATION_TIME_LIMIT", 503, "budget"), k)
    shaped.set_data({"result": {"0": object()}, "time": None})
    job._take(part, shaped, 0.0)


# deselected under ASan: with the portal's clock 100x faster, a client 3x slower maps the
# budget's reset times late enough to be refused a few sub-calls (re-sent: the items are
# still written once); the plain build keeps pace and must see none
@pytest.mark.cpu_bound
@pytest.mark.parametrize("billing", ["documented", "observed"])
def test_a_budget_bound_write_job_writes_each_item_once_without_refusals(
        timed: EmulatorPortal, billing: str) -> None:
    """1,200 adds = 120 s of server time under a 60 s budget: the job waits for the
    budget instead of being refused, several requests in flight at once."""
    timed.configure(operating_limit=60, batch_billing=billing)
    timed.reset_limits()
    tag = f"budget-{billing}"
    b = hook(timed, budget_s=60)
    try:
        res = b.actions.v2.batch_by_chunk.make(adds(tag, 1200), is_halt_on_error=False)
    finally:
        b.close()
    assert res.is_success, res.get_error_messages()[:3]
    assert len(res.get_data()) == 1200
    got = titles(timed, tag)
    assert len(got) == 1200 and set(got.values()) == {1}          # every item exactly once
    stats = timed.stats()
    assert set(statuses(timed)) == {200}, stats                    # no 429, no 503
    assert stats.get("operation_time_limit", 0) == 0, stats
    assert stats.get("query_limit_exceeded", 0) == 0, stats
    assert stats["in_flight_peak"] > 1, stats


def test_refused_sub_calls_are_resent_alone(timed: EmulatorPortal) -> None:
    """A client that believes in a larger budget than the portal's overspends it: the
    portal refuses sub-calls of committed batches (documented billing); only the
    refused ones are sent again, after the reset, and each item is written once."""
    timed.configure(operating_limit=30, batch_billing="documented")
    timed.reset_limits()
    tag = "refused"
    b = hook(timed, budget_s=480)
    try:
        res = b.actions.v2.batch_by_chunk.make(adds(tag, 600), is_halt_on_error=False)
    finally:
        b.close()
    stats = timed.stats()
    assert stats.get("operation_time_limit", 0) > 0, stats         # the portal did refuse
    assert res.is_success, res.get_error_messages()[:3]
    assert len(res.get_data()) == 600
    got = titles(timed, tag)
    assert len(got) == 600 and set(got.values()) == {1}
    # the answers are the caller's, in order: item i has title tag:i
    assert [r["item"]["title"] for r in res.get_data()] == [f"{tag}:{i}" for i in range(600)]


@pytest.mark.parametrize("kind,kw", [("reset_after", {}), ("truncate", {"truncate_at": 200})])
def test_v2_a_request_of_unknown_fate_is_never_resent(
        timed: EmulatorPortal, kind: str, kw: dict[str, Any]) -> None:
    """The answer of a committed batch is lost: the job does not send it again; it
    raises BatchMaybeCommittedError naming those commands and the ones never sent,
    with the results of the committed ones."""
    fault = timed.inject(kind, method="batch", count=1, **kw)
    tag = f"unknown-{kind}"
    b = hook(timed, retry_delay=10)
    try:
        with pytest.raises(BatchMaybeCommittedError) as info:
            b.actions.v2.batch_by_chunk.make(adds(tag, 500), is_halt_on_error=False)
    finally:
        b.close()
    assert fault.fired == 1
    err = info.value
    assert err.code == "JSSDK_BATCH_MAYBE_COMMITTED" and err.maybe_committed
    got = titles(timed, tag)
    assert set(got.values()) == {1}                                # never twice
    maybe = {int(x) for x in err.maybe_positions}
    unsent = {int(x) for x in err.unsent_positions}
    known = {int(k) for k in err.committed}
    assert len(maybe) == 50 and not (maybe & unsent) and not (known & (maybe | unsent))
    assert known | maybe | unsent == set(range(500))
    # the emulator ran the lost batch: its items exist, the unsent ones do not
    assert {f"{tag}:{i}" for i in maybe | known} == set(got)
    assert all(err.committed[str(i)]["item"]["title"] == f"{tag}:{i}" for i in known)


def test_v3_a_lost_batch_answer_is_not_replayed(timed: EmulatorPortal) -> None:
    """The portal honours no Idempotency-Key on ``batch`` (portal.md §8.6): a v3 batch
    of writes whose answer is lost is not re-sent either, nothing written twice."""
    fault = timed.inject("reset_after", method="batch", count=1)
    tag = "v3-lost"
    rows = [("tasks.task.add", {"fields": {"title": f"{tag}:{i}", "responsibleId": 1}}) for i in range(200)]
    b = hook(timed, retry_delay=10)
    try:
        with pytest.raises(BatchMaybeCommittedError) as info:
            b.actions.v3.batch_by_chunk.make(rows)
    finally:
        b.close()
    assert fault.fired == 1
    got = titles(timed, tag)
    assert set(got.values()) == {1}
    assert len(info.value.maybe_positions) == 50
    assert len(got) == 200 - len(info.value.unsent_positions)


def test_v3_write_job_writes_each_item_once(timed: EmulatorPortal) -> None:
    tag = "v3-all"
    rows = [("tasks.task.add", {"fields": {"title": f"{tag}:{i}", "responsibleId": 1}}) for i in range(400)]
    b = hook(timed)
    try:
        res = b.actions.v3.batch_by_chunk.make(rows)
    finally:
        b.close()
    assert res.is_success, res.get_error_messages()[:3]
    got = titles(timed, tag)
    assert len(got) == 400 and set(got.values()) == {1}
    assert set(statuses(timed)) == {200}
    assert timed.stats()["in_flight_peak"] > 1


@pytest.mark.parametrize("billing", ["documented", "observed"])
def test_async_driver_runs_the_same_job(timed: EmulatorPortal, billing: str) -> None:
    timed.configure(batch_billing=billing)
    timed.reset_limits()
    tag = f"async-{billing}"

    async def main() -> Any:
        async with AsyncB24Hook.from_webhook_url(
                timed.v2_url, verify=timed.ca_path) as ab:
            ab.set_logger(None)
            return await ab.actions.v2.batch_by_chunk.make(adds(tag, 1000), is_halt_on_error=False)

    res = asyncio.run(main())
    assert res.is_success and len(res.get_data()) == 1000
    got = titles(timed, tag)
    assert len(got) == 1000 and set(got.values()) == {1}
    stats = timed.stats()
    assert set(statuses(timed)) == {200}, stats
    assert stats.get("operation_time_limit", 0) == 0, stats
    assert stats["in_flight_peak"] > 1, stats


def test_v2_list_commands_resent_keep_their_result_references() -> None:
    """List commands (no 'as') refused for the budget are re-sent as a shorter request:
    a re-sent command that references another re-sent one by ``$result[N]`` must still
    name that command, not the one that now sits at position N."""
    calls = [("crm.item.add", {"entityTypeId": ET, "fields": {"title": "a"}}),
             ("crm.item.add", {"entityTypeId": ET, "fields": {"title": "b"}}),
             ("crm.item.add", {"entityTypeId": ET, "fields": {"title": "c"}}),
             ("crm.item.update", {"entityTypeId": ET, "id": "$result[1][item][id]",
                                  "fields": {"title": "b2"}})]
    job = _sans_io_job(calls, budget_limit_s=0.0)
    _ran_first_refused(job, job.queue.popleft(), ("1", "2", "3"))
    again = job.queue[0]
    assert [o.position for o in again.origin] == [1, 2, 3]
    body = job.core.body(again.sent, False)
    cmd = body["cmd"]
    keys = list(cmd) if isinstance(cmd, dict) else [str(i) for i in range(len(cmd))]
    rows = list(cmd.values()) if isinstance(cmd, dict) else list(cmd)
    key_b = keys[0]                      # the re-sent command 1 ("b")
    assert unquote(rows[0]).endswith("[title]=b")
    assert f"id=$result[{key_b}][item][id]" in unquote(rows[2])   # still "b", not "c"


def test_v2_a_refused_command_whose_reference_is_not_resent_is_not_resent_either() -> None:
    """B references the committed A and cannot go alone (JSSDK_BATCH_NOT_RESENT); C
    references B: it cannot go either -- re-sent without B its request would be refused
    by the body check mid-job (a ValueError with other requests in flight)."""
    calls = [("crm.item.add", {"entityTypeId": ET, "fields": {"title": "a"}}),
             ("crm.item.update", {"entityTypeId": ET, "id": "$result[0][item][id]",
                                  "fields": {"title": "a2"}}),
             ("crm.item.add", {"entityTypeId": ET, "fields": {"title": "$result[1][item][title]"}})]
    job = _sans_io_job(calls, budget_limit_s=0.0)
    _ran_first_refused(job, job.queue.popleft(), ("1", "2"))
    for p in job.queue:          # whatever is re-sent must make a valid request
        job.core.body(p.sent, False)
    assert not job.queue
    assert {k: getattr(e, "code", None) for k, e in job.errors[0].items()} == {
        "1": "JSSDK_BATCH_NOT_RESENT", "2": "JSSDK_BATCH_NOT_RESENT"}


def test_v2_halt_resends_nothing_after_a_command_that_is_not_resent() -> None:
    """With halt, B (referencing the committed A) is not re-sent; C, an independent
    command after it that the portal skipped, must not run either: halt would have
    stopped the batch at B."""
    calls = [("crm.item.add", {"entityTypeId": ET, "fields": {"title": "a"}}),
             ("crm.item.update", {"entityTypeId": ET, "id": "$result[0][item][id]",
                                  "fields": {"title": "a2"}}),
             ("crm.item.add", {"entityTypeId": ET, "fields": {"title": "c"}})]
    job = _sans_io_job(calls, halt=True, budget_limit_s=0.0)
    # the portal ran command 0, refused command 1 and, halting, skipped command 2
    _ran_first_refused(job, job.queue.popleft(), ("1",))
    assert not job.queue
    assert {k: getattr(e, "code", None) for k, e in job.errors[0].items()} == {
        "1": "JSSDK_BATCH_NOT_RESENT", "2": "JSSDK_BATCH_NOT_RESENT"}


def test_commands_not_resent_are_listed_as_never_sent_when_the_job_stops_uncertain() -> None:
    """A command refused and not re-sent never ran: when the job then stops with
    BatchMaybeCommittedError, it is among ``unsent_positions`` (a caller recovering from
    the lists alone would otherwise lose it)."""
    calls = [("crm.item.add", {"entityTypeId": ET, "fields": {"title": "a"}}),
             ("crm.item.update", {"entityTypeId": ET, "id": "$result[0][item][id]",
                                  "fields": {"title": "a2"}})]
    calls += [("crm.item.add", {"entityTypeId": ET, "fields": {"title": f"x{i}"}}) for i in range(50)]
    job = _sans_io_job(calls, budget_limit_s=0.0)
    first, second = job.queue.popleft(), job.queue.popleft()
    shaped: Result[Any] = Result()
    shaped.add_error(AjaxError("OPERATION_TIME_LIMIT", 503, "budget"), "1")

    class Ok:   # an answer of a committed command, as the shaped batch holds it
        is_success = True

        def get_data_or_raise(self) -> dict[str, Any]:
            return {"result": {"item": {"id": 1}}}

    shaped.set_data({"result": {str(i): Ok() for i in range(50) if i != 1}, "time": None})
    job._take(first, shaped, 0.0)
    lost = AjaxError("NETWORK_ERROR", 0, "reset after send")
    lost.maybe_committed = True
    job.flights[7] = second
    job.fail(7, lost, 0.0)
    with pytest.raises(BatchMaybeCommittedError) as info:
        job.results()
    assert "1" in info.value.unsent_positions
    assert info.value.maybe_positions == ["50", "51"]


def _rows(body: dict[str, Any]) -> list[str]:
    cmd = body["cmd"]
    return [unquote(r) for r in (cmd.values() if isinstance(cmd, dict) else cmd)]


def test_the_first_wave_spreads_the_job_over_the_free_tokens_before_any_answer() -> None:
    """2,000 independent adds under the burst, the sub-call time not known yet: the
    job does not send one request alone to measure it (a second round); before any
    answer it starts as many requests as the free tokens allow (50 less the reserve),
    the adds spread over them across the caller's chunks (fewer than 50 each: the
    sub-calls of one batch run one after another), each add in exactly one."""
    job = _sans_io_job(adds("wave", 2000))
    keys, wait = job.next_requests(0.0, 50)
    assert wait == 0
    assert len(keys) == 45
    sizes = [len(job.flights[k].sent) for k in keys]
    assert max(sizes) < 50 and sum(sizes) == 2000
    titles_sent = [r.rsplit("=", 1)[1] for k in keys for r in _rows(job.body(k))]
    assert sorted(titles_sent) == sorted(f"wave:{i}" for i in range(2000))
    # nothing more until answers come back
    assert job.next_requests(0.01, 5)[0] == []


def test_a_job_larger_than_the_budget_measures_the_sub_call_time_first() -> None:
    """A budget too small for the job even at the prior sub-call time (0.2 s): one
    request goes first and measures the real time; the rest is planned on it.
    (A first wave at the prior, re-planned on its first answers, was refused
    sub-calls near the window's edge in the budget-bound test, 3 runs of 7.)
    A job whose first wave (what the bucket admits) fits the budget at the prior
    starts that whole wave at once."""
    from b24hook._write_job import UNIT_PRIOR_S

    job = _sans_io_job(adds("small", 1200))
    job.budget_limit_s = 60.0
    keys, wait = job.next_requests(0.0, 50)
    assert wait == 0 and len(keys) == 1
    assert 0 < len(job.flights[keys[0]].sent) <= 60 * 0.95 / UNIT_PRIOR_S

    fits = _sans_io_job(adds("fits", 1200))
    fits.budget_limit_s = 480.0          # 1,200 x 0.2 s = 240 s: within the budget
    keys, wait = fits.next_requests(0.0, 50)
    assert wait == 0 and len(keys) > 1

    # larger than the budget at 0.2 s (5,000 x 0.2 = 1,000 s), but the wave the bucket
    # admits (45 x 50 x 0.2 = 450 s) fits what the budget has left: the wave goes at once
    big = _sans_io_job(adds("big", 5000))
    big.budget_limit_s = 480.0
    keys, wait = big.next_requests(0.0, 50)
    assert wait == 0 and len(keys) > 1


def test_answers_of_requests_cut_across_chunks_go_back_to_their_commands() -> None:
    """Requests cut across the caller's chunks: each answer lands under the caller's
    chunk and index, in order."""
    from b24hook._result import AjaxResult

    n = 1200
    job = _sans_io_job(adds("cut", n))
    keys, _ = job.next_requests(0.0, 50)
    assert any(p.chunks is not None and len(set(p.chunks)) > 1 for p in job.flights.values())
    for k in keys:
        titles_sent = [r.rsplit("=", 1)[1] for r in _rows(job.body(k))]
        env = {"result": [{"item": {"title": t}} for t in titles_sent], "result_error": [],
               "result_time": [], "result_total": [], "result_next": []}
        job.feed(k, AjaxResult({"result": env, "time": None}, {"request_id": "r"}, 200), 0.5)
    assert job.done
    got = [a.get_data_or_raise()["result"]["item"]["title"]
           for res in job.results() for a in res.get_data()["result"].values()]
    assert got == [f"cut:{i}" for i in range(n)]


def test_a_halting_job_is_not_cut_across_chunks() -> None:
    """With halt the portal stops a request at its first error: the requests stay
    the caller's chunks."""
    job = _sans_io_job(adds("halt", 1200), halt=True)
    keys, _ = job.next_requests(0.0, 50)
    assert [len(job.flights[k].sent) for k in keys] == [50] * 24


def test_a_small_job_keeps_its_chunks() -> None:
    """A job whose chunks take under half of the free tokens goes as its chunks of 50
    (the bucket stays with the client's other calls), all at once."""
    job = _sans_io_job(adds("small", 500))
    keys, _ = job.next_requests(0.0, 50)
    assert [len(job.flights[k].sent) for k in keys] == [50] * 10
