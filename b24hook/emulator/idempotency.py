"""REST 3.0 ``Idempotency-Key`` store (portal.md §8.6).

The first successful answer per (webhook, user, method, key) is kept for
``Settings.idempotency_ttl`` seconds (portal clock) and replayed for a repeat
with the same key and an identical body (compared as parsed JSON, so key
order and whitespace do not matter); a different body is 422.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Callable


def valid_key(key: str) -> bool:
    """1–255 printable ASCII characters (0x20–0x7E)."""
    return 1 <= len(key) <= 255 and all(0x20 <= ord(ch) <= 0x7E for ch in key)


def body_fingerprint(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body.decode("utf-8") or "null"), sort_keys=True,
                          separators=(",", ":"))
    except (ValueError, UnicodeDecodeError):
        return "raw:" + body.decode("latin-1")


@dataclass
class Stored:
    fingerprint: str
    stored_at: float
    status: int
    body: bytes
    content_type: str


class IdempotencyStore:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._items: dict[tuple[Any, ...], Stored] = {}

    def get(self, key: tuple[Any, ...], ttl: float) -> Stored | None:
        now = self._clock()
        with self._lock:
            item = self._items.get(key)
            if item is not None and item.stored_at + ttl <= now:
                del self._items[key]
                item = None
            return item

    def put(self, key: tuple[Any, ...], fingerprint: str, status: int, body: bytes, ctype: str) -> None:
        with self._lock:
            self._items.setdefault(key, Stored(fingerprint, self._clock(), status, body, ctype))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def applies(method: str) -> bool:
    """Create/update/delete-like methods take the header; reads ignore it."""
    return method.rsplit(".", 1)[-1] in ("add", "update", "delete", "set", "send")


__all__ = ["IdempotencyStore", "valid_key", "body_fingerprint", "applies", "Stored", "Any"]
