"""Redaction of secrets in params and URL-like strings (spec §11.2)."""
from __future__ import annotations

from typing import Any, Final, Iterable, TypeVar

from . import _core

__all__ = [
    "REDACTED_PLACEHOLDER",
    "SENSITIVE_PARAM_KEYS",
    "redact_sensitive_params",
    "redact_sensitive_url",
]

#: Replacement text for every masked value.
REDACTED_PLACEHOLDER: Final[str] = _core.REDACTED_PLACEHOLDER
#: Keys whose values are masked (matched case-insensitively, whole name).
SENSITIVE_PARAM_KEYS: Final[tuple[str, ...]] = tuple(_core.SENSITIVE_PARAM_KEYS)

_KEYS = frozenset(k.lower() for k in SENSITIVE_PARAM_KEYS)
_redact_url = _core.redact_url

T = TypeVar("T")


def _scrub(text: str) -> str:
    return _redact_url(text) if "=" in text else text


#: Containers walked below the top (lists included): the walk stops there, so a
#: deep or cyclic value never recurses without end (issue 9 item 2).
_MAX_WALK: Final = 32


def _walk(value: Any, depth: int, budget: int) -> Any:
    if isinstance(value, str):
        return _scrub(value)
    if depth <= 0 or budget <= 0:
        return value
    if isinstance(value, dict):
        return _obj(value, depth - 1, budget - 1)
    if isinstance(value, list):
        return [_walk(item, depth, budget - 1) for item in value]
    return value


def _obj(obj: dict[Any, Any], depth: int, budget: int = _MAX_WALK) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() in _KEYS:
            out[key] = REDACTED_PLACEHOLDER
        else:
            out[key] = _walk(value, depth, budget)
    return out


def redact_sensitive_params(value: T) -> T:
    """Return a copy of a params dict with sensitive values masked.

    Keys of :data:`SENSITIVE_PARAM_KEYS` are masked (whole value) in dicts at
    nesting depths 0, 1 and 2 (lists do not count as a level); strings the
    walk reaches are scrubbed like URLs. Anything but a dict is returned as is.
    """
    if not isinstance(value, dict):
        return value
    return _obj(value, 2)  # type: ignore[return-value]


def redact_sensitive_url(url: T, extra_keys: Iterable[str] = ()) -> T:
    """Mask ``key=value`` pairs of sensitive keys in a query-string-like text.

    ``(^|[?&])(KEY)=[^&#;]*`` becomes ``\\1\\2=***REDACTED***`` (keys
    case-insensitive, ``extra_keys`` added literally). Non-strings and strings
    without ``=`` are returned unchanged.
    """
    if not isinstance(url, str) or "=" not in url:
        return url
    extra = tuple(extra_keys)
    return _redact_url(url, extra) if extra else _redact_url(url)  # type: ignore[return-value]
