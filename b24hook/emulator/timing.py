"""Request timing and the limits that count it: the ``time`` block, the
operating-time ledger (§3, §5.3) and the leaky bucket of the request rate (§5.1)."""
from __future__ import annotations

import threading
import time as _time
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Hashable

BUCKET_SECONDS = 60
BUCKETS = 10
WINDOW = BUCKET_SECONDS * BUCKETS
MIN_RECORDED = 0.1   # calls lasting 0.1 s or less are not recorded (loadlimiter.php)


class Clock:
    """The portal's clock: real time, optionally running ``scale`` times faster,
    plus a manual offset (:meth:`advance`).  Ledger buckets, the leaky bucket,
    ``time`` blocks and the idempotency store all read it, so a test can drive a
    method through its 600 s window in milliseconds."""

    def __init__(self, scale: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._anchor_real = _time.time()
        self._anchor_virtual = self._anchor_real
        self._scale = float(scale)

    def now(self) -> float:
        with self._lock:
            return self._anchor_virtual + (_time.time() - self._anchor_real) * self._scale

    __call__ = now

    @property
    def scale(self) -> float:
        return self._scale

    def set_scale(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError("time scale must be > 0")
        with self._lock:
            real = _time.time()
            self._anchor_virtual += (real - self._anchor_real) * self._scale
            self._anchor_real = real
            self._scale = float(scale)

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._anchor_virtual += float(seconds)
        return self.now()

    def real_seconds(self, virtual: float) -> float:
        """How long to really wait for ``virtual`` portal seconds."""
        return virtual / self._scale


class OperatingLedger:
    """Accumulated execution seconds per key (webhook, method).

    Ten one-minute buckets; a bucket starts with the first call recorded in
    it and expires 600 s later.  The dispatcher refuses a call when
    :meth:`would_refuse` (sum above ``Settings.operating_limit``).
    """

    def __init__(self, clock: Callable[[], float] = _time.time,
                 min_recorded: float = MIN_RECORDED) -> None:
        self._clock = clock
        self._min = min_recorded
        self._lock = threading.Lock()
        self._buckets: dict[Hashable, deque[list[float]]] = {}

    def _expire(self, dq: deque[list[float]], now: float) -> None:
        while dq and dq[0][0] + WINDOW <= now:
            dq.popleft()

    def record(self, key: Hashable, seconds: float, now: float | None = None) -> None:
        if seconds <= self._min:
            return
        now = self._clock() if now is None else now
        with self._lock:
            dq = self._buckets.setdefault(key, deque())
            self._expire(dq, now)
            if dq and dq[-1][0] + BUCKET_SECONDS > now:
                dq[-1][1] += seconds
            else:
                dq.append([now, seconds])

    def state(self, key: Hashable, now: float | None = None) -> tuple[float, int]:
        """(operating seconds, operating_reset_at)."""
        now = self._clock() if now is None else now
        with self._lock:
            dq = self._buckets.get(key)
            if dq:
                self._expire(dq, now)
            if not dq:
                return 0.0, int(now) + WINDOW
            return sum(b[1] for b in dq), int(dq[0][0] + WINDOW)

    def would_refuse(self, key: Hashable, limit: float | None) -> bool:
        if limit is None:
            return False
        return self.state(key)[0] > limit

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """{"webhook-key method": seconds} of every live key (admin endpoint)."""
        now = self._clock() if now is None else now
        out = {}
        with self._lock:
            for key, dq in self._buckets.items():
                self._expire(dq, now)
                if dq:
                    k = " ".join(str(x) for x in key) if isinstance(key, tuple) else str(key)
                    out[k] = round(sum(b[1] for b in dq), 6)
        return out

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()


class LeakyBucket:
    """Per-key counter: +1 per request, drains ``rate`` per second; a request
    that would lift it above ``capacity`` is refused (so a burst of exactly
    ``capacity`` requests passes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def hit(self, key: str, capacity: float, rate: float, now: float,
            count_refused: bool) -> bool:
        with self._lock:
            level, last = self._state.get(key, (0.0, now))
            level = max(0.0, level - max(0.0, now - last) * rate)
            ok = level + 1 <= capacity + 1e-9
            if ok or count_refused:
                level += 1
            self._state[key] = (level, now)
            return ok

    def level(self, key: str, rate: float, now: float) -> float:
        with self._lock:
            level, last = self._state.get(key, (0.0, now))
            return max(0.0, level - max(0.0, now - last) * rate)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {k: round(v[0], 6) for k, v in self._state.items()}

    def clear(self) -> None:
        with self._lock:
            self._state.clear()


def php_date_c(ts: float, tz: timezone) -> str:
    """PHP ``date('c')``: ``2024-05-21T15:14:27+03:00``."""
    return datetime.fromtimestamp(int(ts), tz).isoformat()


def make_tz(offset_minutes: int) -> timezone:
    return timezone(timedelta(minutes=offset_minutes))


def time_block(start: float, finish: float, processing: float, tz: timezone,
               operating: tuple[float, int] | None, *, integer: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {
        "start": int(start) if integer else round(start, 6),
        "finish": round(finish, 6),
        "duration": finish - start,
        "processing": int(processing) if integer else processing,
        "date_start": php_date_c(start, tz),
        "date_finish": php_date_c(finish, tz),
    }
    if operating is not None:
        block["operating_reset_at"] = operating[1]
        block["operating"] = operating[0] or 0   # PHP prints 0, not 0.0
    return block
