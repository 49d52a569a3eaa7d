"""Helpers of the list/batch/export tests: bulk rows straight into the emulator's store."""
from __future__ import annotations

from typing import Any


def bulk_items(portal: Any, entity_type_id: int, n: int, start: int = 1) -> None:
    """Insert crm items ``start .. start+n-1`` of one entity type (SQLite CTE, ~1 s per 1 M rows)."""
    st = portal.store
    with st.lock:
        st.conn.execute(
            "WITH RECURSIVE c(x) AS (SELECT ? UNION ALL SELECT x+1 FROM c WHERE x < ?) "
            "INSERT INTO crm_item(entity_type_id, id, title, opened, assigned_by_id, created_by, "
            "updated_by, created_time, updated_time) SELECT ?, x, 'Item ' || x, 'Y', 1, 1, 1, "
            "'2025-01-01T00:00:00+03:00', '2025-01-01T00:00:00+03:00' FROM c",
            (start, start + n - 1, entity_type_id),
        )
        st.conn.commit()


def delete_items(portal: Any, entity_type_id: int, ids: list[int]) -> None:
    st = portal.store
    with st.lock:
        st.conn.executemany("DELETE FROM crm_item WHERE entity_type_id=? AND id=?",
                            [(entity_type_id, i) for i in ids])
        st.conn.commit()


def requests_of(portal: Any, method: str) -> int:
    return sum(portal.stats()["requests"].get(method, {}).values())
