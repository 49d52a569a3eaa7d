"""Request ids: RFC 9562 UUID version 7 strings (spec §10)."""
from __future__ import annotations

from . import _core

__all__ = ["RequestIdGenerator"]

def _uuid7() -> str:
    """A UUIDv7: 48-bit Unix ms, then a 12-bit monotonic counter (RFC 9562
    §6.2 method 1) seeded randomly each millisecond, then 62 random bits; made
    in C (``_core.uuid7``: getrandom(2) in blocks, dropped in a forked child)."""
    return _core.uuid7()


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
