"""The chained-batch export (fetch_list fast=True) and flat memory of fetch_list."""
from __future__ import annotations

import gc
import time
import tracemalloc
from typing import Any, Iterator

import pytest

from b24hook import B24Hook, SdkError
from b24hook.emulator import EmulatorPortal

from _list_rows import bulk_items, delete_items, requests_of

BIG = 1256   # 100,000 rows
HUGE = 128   # 200,000 rows
GAPS = 1     # ids 1..1000 and 50,001..53,000: shards with nothing in them


@pytest.fixture(scope="module")
def ep() -> Iterator[EmulatorPortal]:
    p = EmulatorPortal(db=":memory:").start()
    bulk_items(p, BIG, 100_000)
    bulk_items(p, HUGE, 200_000)
    bulk_items(p, GAPS, 1000)
    bulk_items(p, GAPS, 3000, start=50_001)
    try:
        yield p
    finally:
        p.close()


def table_ids(p: EmulatorPortal, et: int) -> list[int]:
    return [r[0] for r in p.store.query("SELECT id FROM crm_item WHERE entity_type_id=? ORDER BY id", (et,))]


def export(b: B24Hook, et: int, **kw: Any) -> Iterator[list[Any]]:
    return b.actions.v2.fetch_list.make("crm.item.list", {"entityTypeId": et, "select": ["id", "title"]},
                                        id_key="id", custom_key_for_result="items", fast=True, **kw)


def test_export_100k_standard_limits(ep: EmulatorPortal) -> None:
    ep.configure(rate_limit="standard")  # burst 50, 2 requests/s
    ep.reset_limits()
    ep.reset_stats()
    b = B24Hook.from_webhook_url(ep.v2_url, verify=ep.ca_path)
    seen: list[tuple[int, Any]] = []
    t = time.monotonic()
    try:
        ids = [r["id"] for chunk in export(b, BIG, progress=lambda n, tot: seen.append((n, tot)))
               for r in chunk]
    finally:
        ep.configure(rate_limit=None)
        b.close()
    elapsed = time.monotonic() - t
    stats = ep.stats()
    assert sorted(ids) == table_ids(ep, BIG) and len(ids) == 100_000
    assert stats["total"] <= 45, stats
    assert stats["query_limit_exceeded"] == 0
    assert seen[-1][0] == 100_000 and seen[-1][1] is not None
    print(f"\nexport 100k: {stats['total']} requests, {100_000 / stats['total']:.0f} rows/request, "
          f"{elapsed:.2f} s")


@pytest.mark.parametrize("shards", [1, 3, 8])
def test_export_sparse_ids_and_shard_counts(ep: EmulatorPortal, shards: int) -> None:
    b = B24Hook.from_webhook_url(ep.v2_url, verify=ep.ca_path)
    chunks = list(export(b, GAPS, shards=shards))
    ids = [r["id"] for c in chunks for r in c]
    assert len(ids) == len(set(ids)) and sorted(ids) == table_ids(ep, GAPS)
    if shards == 1:
        assert ids == sorted(ids)  # one shard: one ascending stream
    b.close()


@pytest.mark.parametrize("size", [0, 1, 50, 51, 2550])
def test_export_small_lists_match_the_plain_walk(ep: EmulatorPortal, size: int) -> None:
    b = B24Hook.from_webhook_url(ep.v2_url, verify=ep.ca_path)
    params = {"entityTypeId": BIG, "filter": {"<=id": size}, "select": ["id"]}
    plain = b.actions.v2.call_list.make("crm.item.list", params, id_key="id",
                                        custom_key_for_result="items").get_data()
    fast = [r for c in b.actions.v2.fetch_list.make("crm.item.list", params, id_key="id",
                                                    custom_key_for_result="items", fast=True) for r in c]
    assert sorted(r["id"] for r in fast) == [r["id"] for r in plain]
    b.close()


def test_export_rows_deleted_while_running(ep: EmulatorPortal) -> None:
    et = 4  # a fresh table: ids 1..20000
    bulk_items(ep, et, 20_000)
    before = set(table_ids(ep, et))
    doomed = list(range(10_000, 10_300)) + list(range(19_900, 20_001))  # incl. a shard's last ids
    b = B24Hook.from_webhook_url(ep.v2_url, verify=ep.ca_path)
    got: list[int] = []
    for i, chunk in enumerate(export(b, et, shards=4)):
        got.extend(r["id"] for r in chunk)
        if i == 1:
            delete_items(ep, et, doomed)
    after = set(table_ids(ep, et))
    assert len(got) == len(set(got))  # no duplicates
    assert after <= set(got) <= before  # no gaps among the rows that stayed
    b.close()


def test_export_rows_without_numeric_id(ep: EmulatorPortal) -> None:
    b = B24Hook.from_webhook_url(ep.v2_url, verify=ep.ca_path)
    with pytest.raises(SdkError) as ei:
        list(b.actions.v2.fetch_list.make("crm.item.list", {"entityTypeId": BIG, "select": ["id", "title"]},
                                          id_key="title", cursor_id_key="id",
                                          custom_key_for_result="items", fast=True))
    assert ei.value.code == "JSSDK_EXPORT_INVALID_ID" and "'title'" in ei.value.message
    with pytest.raises(ValueError):
        export(b, BIG, shards=0)
    b.close()


#: the plain walk of 200,000 rows is 4,000 requests: no client pacing for the memory test
NO_LIMITS = {"rate_limit": {"burst_limit": 1_000_000, "drain_rate": 1_000_000, "adaptive_enabled": False},
             "adaptive_config": {"enabled": False}}


def test_fetch_list_200k_keeps_memory_flat(ep: EmulatorPortal) -> None:
    b = B24Hook.from_webhook_url(ep.v2_url, verify=ep.ca_path, restriction_params=NO_LIMITS)
    # logging off: the suite's secret guard keeps every record of the test (4,000 calls' worth)
    b.set_logger(None)
    params = {"entityTypeId": HUGE, "select": ["id", "title"]}
    gc.collect()
    tracemalloc.start()
    try:
        it = b.actions.v2.fetch_list.make("crm.item.list", params, id_key="id", custom_key_for_result="items")
        base = tracemalloc.get_traced_memory()[0]
        first = next(it)
        page_bytes = tracemalloc.get_traced_memory()[0] - base
        n = len(first)
        del first
        for page in it:
            n += len(page)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        b.close()
    assert n == 200_000
    full = page_bytes * (200_000 // 50)  # what holding every page would take
    # the peak also counts the in-process emulator's own allocations (answers, SQLite rows)
    assert peak - base < full / 10, (peak - base, full)
