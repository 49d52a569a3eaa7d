"""Restriction parameters: presets, deep-fill, and the restriction manager (spec §9).

Every duration here is in milliseconds (as in the JS SDK).

The :class:`RestrictionManager` below is the Python placeholder of the
limiter: it keeps the configuration and the error-code sets, and its gates
answer "no wait" (one attempt per call). The next issue moves the limiters
and the retry policy into the C core behind the same methods.
"""
from __future__ import annotations

import copy
import time
from typing import Any, Final, Literal, Mapping, TypedDict, Union

__all__ = [
    "RateLimitParams",
    "OperatingLimitParams",
    "AdaptiveConfigParams",
    "RestrictionParams",
    "ParamsFactory",
    "RestrictionManager",
    "fill_restriction_params",
]


class RateLimitParams(TypedDict, total=False):
    burst_limit: float
    drain_rate: float  # tokens per second
    adaptive_enabled: bool


class OperatingLimitParams(TypedDict, total=False):
    window_ms: int
    limit_ms: int
    heavy_percent: float


class AdaptiveConfigParams(TypedDict, total=False):
    enabled: bool
    threshold_percent: float
    coefficient: float
    max_delay: int  # ms


class RestrictionParams(TypedDict, total=False):
    """Limiter and retry configuration (snake_case keys of the JS SDK)."""

    rate_limit: RateLimitParams
    operating_limit: OperatingLimitParams
    adaptive_config: AdaptiveConfigParams
    max_retries: int
    retry_delay: int  # ms
    retry_on_network_error: Union[bool, Literal["always"]]
    hard_error_codes: list[str]
    soft_error_codes: list[str]


_SECTIONS: Final = ("rate_limit", "operating_limit", "adaptive_config")


def _base() -> RestrictionParams:
    return {
        "rate_limit": {"burst_limit": 50, "drain_rate": 2, "adaptive_enabled": True},
        "operating_limit": {"window_ms": 600_000, "limit_ms": 480_000, "heavy_percent": 80},
        "adaptive_config": {
            "enabled": True,
            "threshold_percent": 80,
            "coefficient": 0.01,
            "max_delay": 7000,
        },
        "max_retries": 3,
        "retry_delay": 1000,
        "retry_on_network_error": True,
        "hard_error_codes": [],
        "soft_error_codes": [],
    }


class ParamsFactory:
    """Presets of :class:`RestrictionParams`; every call returns fresh objects."""

    @staticmethod
    def get_default() -> RestrictionParams:
        """Burst 50, 2 req/s, 480 s of 600 s operating budget, 3 attempts."""
        return _base()

    @staticmethod
    def get_enterprise() -> RestrictionParams:
        """Enterprise plan: burst 250, 5 req/s."""
        p = _base()
        p["rate_limit"] = {"burst_limit": 250, "drain_rate": 5, "adaptive_enabled": True}
        return p

    @staticmethod
    def get_batch_processing() -> RestrictionParams:
        """Gentle settings for long batch jobs: burst 30, 1 req/s, 5 attempts."""
        p = _base()
        p["rate_limit"] = {"burst_limit": 30, "drain_rate": 1, "adaptive_enabled": True}
        p["operating_limit"]["heavy_percent"] = 50
        p["adaptive_config"] = {
            "enabled": True,
            "threshold_percent": 50,
            "coefficient": 0.015,
            "max_delay": 10000,
        }
        p["max_retries"] = 5
        return p

    @staticmethod
    def get_realtime() -> RestrictionParams:
        """Interactive use: no adaptive delay, a single attempt."""
        p = _base()
        p["adaptive_config"] = {
            "enabled": False,
            "threshold_percent": 100,
            "coefficient": 0.001,
            "max_delay": 480_000,
        }
        p["max_retries"] = 1
        return p

    @staticmethod
    def from_tariff_plan(plan: str) -> RestrictionParams:
        """``"enterprise"`` (any case) → enterprise preset; anything else → default."""
        if isinstance(plan, str) and plan.lower() == "enterprise":
            return ParamsFactory.get_enterprise()
        return ParamsFactory.get_default()


def fill_restriction_params(params: Mapping[str, Any] | None) -> RestrictionParams:
    """Deep-fill partial params over :meth:`ParamsFactory.get_default`.

    Top-level keys replace the default; a section given as a mapping keeps the
    default for each field it lacks ([DIVERGE] from JS, which leaves them
    undefined). The result shares no object with ``params``.
    """
    out = _base()
    if params is None:
        return out
    if not isinstance(params, Mapping):
        raise TypeError("restriction_params must be a mapping")
    for key, value in params.items():
        if key in _SECTIONS:
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise TypeError(f"restriction_params[{key!r}] must be a mapping")
            section = dict(out[key])  # type: ignore[literal-required]
            section.update(copy.deepcopy(dict(value)))
            out[key] = section  # type: ignore[literal-required]
        elif key in ("hard_error_codes", "soft_error_codes"):
            out[key] = [str(c) for c in (value or ())]  # type: ignore[literal-required]
        else:
            out[key] = copy.deepcopy(value)  # type: ignore[literal-required]
    return out


class RestrictionManager:
    """Limiter configuration and error-code sets of one transport.

    ``BUILT_IN_HARD_ERROR_CODES`` are raised and never retried (unless the
    status says rate/operating limit); ``BUILT_IN_SOFT_ERROR_CODES`` come back
    inside a failed ``AjaxResult``. Users can only add codes.
    """

    BUILT_IN_HARD_ERROR_CODES: Final[tuple[str, ...]] = (
        "ERR_BAD_REQUEST",
        "JSSDK_UNKNOWN_ERROR",
        "100",
        "INTERNAL_SERVER_ERROR",
        "ERROR_UNEXPECTED_ANSWER",
        "PORTAL_DELETED",
        "ERROR_BATCH_METHOD_NOT_ALLOWED",
        "ERROR_BATCH_LENGTH_EXCEEDED",
        "NO_AUTH_FOUND",
        "INVALID_REQUEST",
        "OVERLOAD_LIMIT",
        "expired_token",
        "invalid_token",
        "ACCESS_DENIED",
        "INVALID_CREDENTIALS",
        "user_access_error",
        "insufficient_scope",
        "ERROR_MANIFEST_IS_NOT_AVAILABLE",
        "allowed_only_intranet_user",
        "NOT_FOUND",
        "INVALID_ARG_VALUE",
    )
    BUILT_IN_SOFT_ERROR_CODES: Final[tuple[str, ...]] = (
        "ERROR_ENTITY_NOT_FOUND",
        "BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION",
        "BITRIX_REST_V3_EXCEPTION_INVALIDJSONEXCEPTION",
        "BITRIX_REST_V3_EXCEPTION_INVALIDFILTEREXCEPTION",
        "BITRIX_REST_V3_EXCEPTION_INVALIDSELECTEXCEPTION",
        "BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION",
        "BITRIX_REST_V3_EXCEPTION_METHODNOTFOUNDEXCEPTION",
        "BITRIX_REST_V3_EXCEPTION_UNKNOWNDTOPROPERTYEXCEPTION",
        "BITRIX_REST_V3_EXCEPTION_VALIDATION_REQUESTVALIDATIONEXCEPTION",
        "BITRIX_REST_V3_EXCEPTION_VALIDATION_DTOVALIDATIONEXCEPTION",
    )

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self._params = fill_restriction_params(params)
        self._original_rate = dict(self._params["rate_limit"])
        self._last_refill = time.time() * 1000.0
        self._recompute()

    def _recompute(self) -> None:
        p = self._params
        soft = set(self.BUILT_IN_SOFT_ERROR_CODES)
        soft.update(p.get("soft_error_codes") or ())
        hard = set(self.BUILT_IN_HARD_ERROR_CODES)
        hard.update(p.get("hard_error_codes") or ())
        if p.get("retry_on_network_error") is False:
            hard.update(("NETWORK_ERROR", "REQUEST_TIMEOUT"))
        self._soft = frozenset(soft)
        self._hard = frozenset(hard)

    # -- configuration -------------------------------------------------
    def get_params(self) -> RestrictionParams:
        """A copy of the current configuration (deep: editing it changes nothing)."""
        return copy.deepcopy(self._params)

    def set_params(self, params: Mapping[str, Any] | None) -> None:
        """Replace the configuration wholesale (missing parts from the defaults)."""
        self._params = fill_restriction_params(params)
        self._original_rate = dict(self._params["rate_limit"])
        self._recompute()

    @property
    def max_retries(self) -> int:
        return int(self._params.get("max_retries", 3))

    def is_soft(self, code: str) -> bool:
        """Exact, case-sensitive membership in the effective soft set."""
        return code in self._soft

    def is_hard(self, code: str) -> bool:
        return code in self._hard

    # -- gates (placeholders: the C limiter replaces them) -------------
    def operating_wait_ms(self, method: str, params: Any) -> float:
        """Operating gate + adaptive delay: ms to wait before sending. Placeholder: 0."""
        return 0.0

    def rate_wait_ms(self) -> float:
        """Rate gate: ms to wait for a token. Placeholder: 0 (token always granted)."""
        return 0.0

    def retry_wait_ms(self, error: Any, attempt: int, method: str, maybe_sent: bool) -> float:
        """Retry policy (§9.5): ms to wait before the next attempt, 0 = stop. Placeholder: 0."""
        return 0.0

    def record_success(self, method: str, answer_time: Any) -> None:
        """Feed a successful answer's ``time`` to the limiters. Placeholder."""

    def reset(self) -> None:
        """Clear limiter state and restore the original rates."""
        self._params["rate_limit"] = RateLimitParams(**self._original_rate)  # type: ignore[typeddict-item]
        self._last_refill = time.time() * 1000.0

    def get_stats(self) -> dict[str, Any]:
        """Limiter part of ``http.get_stats()`` (§9.6)."""
        rate = self._params["rate_limit"]
        burst = rate.get("burst_limit", 50)
        drain = rate.get("drain_rate", 2) or 2
        return {
            "tokens": float(burst),
            "burst_limit": burst,
            "original_burst_limit": self._original_rate.get("burst_limit", burst),
            "drain_rate": drain,
            "original_drain_rate": self._original_rate.get("drain_rate", drain),
            "refill_interval_ms": 1000.0 / float(drain),
            "last_refill": self._last_refill,
            "pending_requests": 0,
            "recent_errors": 0,
            "recent_successes": 0,
            "adaptive_delays": 0,
            "total_adaptive_delay": 0,
            "adaptive_delay_avg": 0,
            "heavy_request_count": 0,
            "operating_stats": {},
        }

    def __repr__(self) -> str:
        return f"RestrictionManager(max_retries={self.max_retries})"
