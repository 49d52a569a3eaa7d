"""Restriction parameters: presets, deep-fill, and the restriction manager (spec §9).

Every duration here is in milliseconds (as in the JS SDK).

The :class:`RestrictionManager` below keeps the configuration and wraps the
C restriction manager (``_core.Limiter``: rate limiter, operating limiter,
adaptive delayer, retry policy and metrics, all state guarded in C).
"""
from __future__ import annotations

import copy
import difflib
import hashlib
from typing import Any, Final, Literal, Mapping, TypedDict, Union

from . import _core

__all__ = [
    "RateLimitParams",
    "OperatingLimitParams",
    "AdaptiveConfigParams",
    "RestrictionParams",
    "ParamsFactory",
    "RestrictionManager",
    "fill_restriction_params",
    "batch_method_names",
    "limiter_scope",
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
    #: Who shares this client's request bucket and operating ledger: None
    #: (this process), ``"host"`` (every process of this machine and user,
    #: shared memory) or ``"redis://host:port/db"``. Fixed at construction.
    shared: str | None


_SECTIONS: Final = ("rate_limit", "operating_limit", "adaptive_config")


def _base() -> RestrictionParams:
    """A fresh default preset: the C core's one table (b24_limits_config_default)."""
    return _core.Limiter.defaults()  # type: ignore[return-value]


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


def batch_method_names(method: str, params: Any) -> list[str] | None:
    """Names of the commands of a v2 ``batch`` whose ``cmd`` is a list (text
    before ``?``), for the ``batch`` → max over ``batch::<m>`` rule (§9.3);
    None for anything else (a dict ``cmd``, a v3 batch, another method)."""
    if method != "batch" or not isinstance(params, Mapping):
        return None
    cmd = params.get("cmd")
    if not isinstance(cmd, (list, tuple)):
        return None
    return [c.split("?", 1)[0] for c in cmd if isinstance(c, str)]


_KEYS: Final[dict[str, frozenset[str]]] = {
    "": frozenset(RestrictionParams.__required_keys__ | RestrictionParams.__optional_keys__),
    "rate_limit": frozenset(RateLimitParams.__required_keys__ | RateLimitParams.__optional_keys__),
    "operating_limit": frozenset(OperatingLimitParams.__required_keys__
                                 | OperatingLimitParams.__optional_keys__),
    "adaptive_config": frozenset(AdaptiveConfigParams.__required_keys__
                                 | AdaptiveConfigParams.__optional_keys__),
}


def _check_keys(where: str, given: Mapping[Any, Any]) -> None:
    """Refuse a key the limiter does not know (a typo would silently keep the
    default): ValueError naming the key and the closest known one."""
    known = _KEYS[where]
    for key in given:
        if isinstance(key, str) and key in known:
            continue
        label = f"restriction_params[{where!r}]" if where else "restriction_params"
        close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(known))}"
        raise ValueError(f"{label}: unknown key {str(key)[:80]!r}{hint}")


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
    _check_keys("", params)
    for key, value in params.items():
        if key in _SECTIONS:
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise TypeError(f"restriction_params[{key!r}] must be a mapping")
            _check_keys(key, value)
            section = dict(out[key])  # type: ignore[literal-required]
            section.update(copy.deepcopy(dict(value)))
            out[key] = section  # type: ignore[literal-required]
        elif key in ("hard_error_codes", "soft_error_codes"):
            out[key] = [str(c) for c in (value or ())]  # type: ignore[literal-required]
        else:
            out[key] = copy.deepcopy(value)  # type: ignore[literal-required]
    return out


def limiter_scope(domain: str, user_id: int, secret: str) -> tuple[str, str]:
    """The (portal key, webhook key) a shared limiter keys its state by:
    the first 32 hex digits of SHA-256 over the portal's domain, and over the
    domain, user id and secret. The request bucket is the portal's (every
    webhook of one portal shares it, like the portal's own counter, §5.1);
    the operating ledger is the webhook's (§5.3). Digests, so no file name
    or Redis key reveals the secret (docs/decisions.md)."""
    portal = hashlib.sha256(b"b24hook-portal\0" + domain.lower().encode()).hexdigest()[:32]
    hook = hashlib.sha256(b"b24hook-webhook\0" + "\0".join(
        (domain.lower(), str(user_id), secret)).encode()).hexdigest()[:32]
    return portal, hook


def _check_shared_kept(old: Any, new: Any) -> None:
    if old != new:
        raise ValueError(
            f"restriction_params['shared'] is fixed when the client is built "
            f"(it is {old!r}); pass the same value, or build a new client")


class RestrictionManager:
    """Limiter configuration and error-code sets of one transport.

    ``BUILT_IN_HARD_ERROR_CODES`` are raised and never retried (unless the
    status says rate/operating limit); ``BUILT_IN_SOFT_ERROR_CODES`` come back
    inside a failed ``AjaxResult``. Users can only add codes.
    """

    # the C core's tables (b24_builtin_hard_codes / b24_builtin_soft_codes)
    BUILT_IN_HARD_ERROR_CODES: Final[tuple[str, ...]] = tuple(_core.BUILT_IN_HARD_ERROR_CODES)
    BUILT_IN_SOFT_ERROR_CODES: Final[tuple[str, ...]] = tuple(_core.BUILT_IN_SOFT_ERROR_CODES)

    def __init__(self, params: Mapping[str, Any] | None = None,
                 scope: tuple[str, str] | None = None) -> None:
        """``scope``: the (portal key, webhook key) digests a shared limiter
        (``shared="host"`` or a Redis URL) keys its state by; the client
        passes its own (:func:`limiter_scope`)."""
        self._params = fill_restriction_params(params)
        self._limiter = _core.Limiter(dict(self._params), scope=scope)

    # -- configuration -------------------------------------------------
    @property
    def limiter(self) -> "_core.Limiter":
        """The C restriction manager (shared by every thread of the transport)."""
        return self._limiter

    def get_params(self) -> RestrictionParams:
        """A copy of the current configuration (deep: editing it changes nothing)."""
        return copy.deepcopy(self._params)

    def set_params(self, params: Mapping[str, Any] | None) -> None:
        """Replace the configuration wholesale (missing parts from the defaults).

        Limiter state (tokens, operating stats, metrics) is kept; the rate
        limiter's error/success histories are cleared (§3.2).
        """
        filled = fill_restriction_params(params)
        _check_shared_kept(self._params.get("shared"), filled.get("shared"))
        self._limiter.configure(dict(filled))  # validates first; raises, keeping the old config
        self._params = filled

    @staticmethod
    def validate(params: Mapping[str, Any] | None) -> RestrictionParams:
        """Fill and check ``params`` exactly as the constructor does (TypeError or
        ValueError naming the key), without touching any limiter; the filled copy."""
        filled = fill_restriction_params(params)
        _core.Limiter.backend_names(filled.get("shared"))  # checks the value, opens nothing
        _core.Limiter({k: v for k, v in filled.items() if k != "shared"})
        return filled

    @property
    def max_retries(self) -> int:
        return int(self._limiter.max_retries)

    def is_soft(self, code: str) -> bool:
        """Exact, case-sensitive membership in the effective soft set."""
        return bool(self._limiter.is_soft(code))

    def is_hard(self, code: str) -> bool:
        return bool(self._limiter.is_hard(code))

    # -- gates (non-blocking: each returns how long to wait) -----------
    def operating_wait_ms(self, method: str, params: Any = None) -> float:
        """Operating gate, else the adaptive delay: ms to wait before sending."""
        wait, _title = self._limiter.operating_wait(method, batch_method_names(method, params))
        return float(wait)

    def feed_time(self, name: str, answer_time: Any) -> None:
        """Feed a ``time`` dict under ``name`` (e.g. ``batch::crm.item.list``)."""
        self._limiter.record_success(name, answer_time)

    def reset(self) -> None:
        """Zero the metrics and all limiter state; restore the original rates."""
        self._limiter.reset()

    def get_stats(self) -> dict[str, Any]:
        """Every key of ``http.get_stats()`` (§9.6), limiter and metrics."""
        return dict(self._limiter.stats())

    def __repr__(self) -> str:
        return f"RestrictionManager(max_retries={self.max_retries})"
