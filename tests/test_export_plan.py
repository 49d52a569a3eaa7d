"""The export planner through _core (csrc/core/b24_plan.c; its table of cases is
csrc/tests/test_plan.c): the binding's defaults, keywords and answers."""
from __future__ import annotations

import pytest

from b24hook import _core


def test_full_bucket_plans_one_round_of_short_batches() -> None:
    flights, pages, wait, bound, eta = _core.export_plan(
        pages_left=399, page_s=0.1, rtt_s=0.05, tokens=49, drain=2, max_flights=64)
    assert (flights, pages, wait, bound) == (45, 9, 0.0, False)
    assert eta == pytest.approx(0.95)


def test_caller_bound_and_budget_wait() -> None:
    assert _core.export_plan(pages_left=400, page_s=0.1, rtt_s=0.05, tokens=49, drain=2,
                             max_flights=4)[:2] == (4, 50)
    flights, pages, wait, bound, _ = _core.export_plan(
        pages_left=400, page_s=0.015, page_cost_s=0.15, tokens=49, drain=2, budget_limit_s=480,
        budget_used_s=470, reset_in_s=4.25)
    assert (flights, pages, wait, bound) == (1, 1, 4.25, True)


def test_keywords_only() -> None:
    with pytest.raises(TypeError):
        _core.export_plan(10)  # type: ignore[misc]
    with pytest.raises(TypeError):
        _core.export_plan(pages=10)  # type: ignore[call-arg]
    assert _core.export_plan() == (1, 1, 0.0, False, 0.0)


def test_budget_bound_wave_never_commits_past_the_headroom() -> None:
    """Streams x pages fit the headroom: 28.2 s left (30 s, 5 % kept, 0.3 s used) at
    0.15 s per page is 188 pages; rounding the streams up sent 19 x 10 = 190."""
    for used in (0.3, 5.0, 17.7, 27.0):
        flights, pages, wait, bound, _ = _core.export_plan(
            pages_left=399, page_s=0.0015, page_cost_s=0.15, tokens=49, drain=2, max_flights=50,
            budget_limit_s=30, budget_used_s=used, reset_in_s=590, margin=0.05)
        assert bound and wait == 0
        assert flights * pages * 0.15 <= 30 * 0.95 - used, (used, flights, pages)
