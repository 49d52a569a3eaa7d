"""Request ids: RFC 9562 UUID version 7 strings (spec §10)."""
from __future__ import annotations

import os
import threading
import time

__all__ = ["RequestIdGenerator"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0
# os.urandom in blocks: one getrandom(2) per 409 ids instead of one per id
# (a syscall was ~1 us of the ~40 us a call.make costs; issue 10 profile).
# Emptied in a forked child, so parent and child never hand out the same bytes.
_POOL_SIZE = 4090
_pool = b""
_pos = 0


def _forget_pool() -> None:
    global _pool, _pos
    _pool, _pos = b"", 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _uuid7() -> str:
    """A UUIDv7: 48-bit Unix ms, then a 12-bit monotonic counter (RFC 9562
    §6.2 method 1) seeded randomly each millisecond, then 62 random bits."""
    global _last_ms, _counter, _pool, _pos
    with _lock:
        if _pos + 10 > len(_pool):
            _pool, _pos = os.urandom(_POOL_SIZE), 0
        rand = int.from_bytes(_pool[_pos:_pos + 10], "big")
        _pos += 10
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            _counter = (rand >> 68) & 0x7FF  # leave headroom in the 12-bit counter
        else:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class RequestIdGenerator:
    """Makes the ``bx24_request_id`` sent with every request."""

    HEADER_FIELD_NAME = "X-Request-ID"
    QUERY_STRING_PARAMETER_NAME = "bx24_request_id"
    QUERY_STRING_SDK_VER_PARAMETER_NAME = "bx24_sdk_ver"
    QUERY_STRING_SDK_TYPE_PARAMETER_NAME = "bx24_sdk_type"

    __slots__ = ()

    def get_request_id(self) -> str:
        """A fresh UUIDv7 string, 36 lowercase characters, unique per call."""
        return _uuid7()

    def get_header_field_name(self) -> str:
        """``X-Request-ID`` (defined by the JS SDK; never sent)."""
        return self.HEADER_FIELD_NAME

    def get_query_string_parameter_name(self) -> str:
        return self.QUERY_STRING_PARAMETER_NAME

    def get_query_string_sdk_parameter_name(self) -> str:
        return self.QUERY_STRING_SDK_VER_PARAMETER_NAME

    def get_query_string_sdk_type_parameter_name(self) -> str:
        return self.QUERY_STRING_SDK_TYPE_PARAMETER_NAME

    def __repr__(self) -> str:
        return "RequestIdGenerator()"
