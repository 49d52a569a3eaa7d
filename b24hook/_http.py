"""The per-version transport object returned by ``B24Hook.get_http_client``.

It wraps one ``_core.Transport`` (a v2 or v3 base URL), its restriction
manager, its metrics and its logger; ``call`` runs the pipeline of §5.
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Mapping

from . import _core
from ._enums import ApiVersion
from ._logging import LoggerInterface, NullLogger, adapt_logger
from ._params import RestrictionManager, RestrictionParams
from ._pipeline import WRITE_METHOD_VERBS, run_call
from ._request_id import RequestIdGenerator
from ._result import AjaxResult

if TYPE_CHECKING:
    from ._hook import AuthHookManager

__all__ = ["Http"]

_LAST_ERRORS_CAP = 100


class _Metrics:
    """Request counters of one transport (§9.6), thread-safe."""

    __slots__ = ("_lock", "retries", "consecutive_errors", "limit_hits", "error_counts",
                 "total_requests", "successful_requests", "failed_requests",
                 "total_duration", "by_method", "last_errors")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self.retries = 0
        self.consecutive_errors = 0
        self.limit_hits = 0
        self.error_counts: dict[str, int] = {}
        self.total_requests = 0
        self.successful_requests = 0
        self.failed_requests = 0
        self.total_duration = 0.0
        self.by_method: dict[str, dict[str, float]] = {}
        self.last_errors: list[dict[str, Any]] = []

    def _attempt(self, method: str, elapsed_ms: float) -> None:
        self.total_requests += 1
        self.total_duration += elapsed_ms
        entry = self.by_method.get(method)
        if entry is None:
            entry = self.by_method[method] = {"count": 0, "total_duration": 0.0}
        entry["count"] += 1
        entry["total_duration"] += elapsed_ms

    def success(self, method: str, elapsed_ms: float) -> None:
        with self._lock:
            self._attempt(method, elapsed_ms)
            self.successful_requests += 1
            self.consecutive_errors = 0
            self.error_counts.pop(method, None)

    def failure(self, method: str, message: str, elapsed_ms: float) -> None:
        with self._lock:
            self._attempt(method, elapsed_ms)
            self.failed_requests += 1
            self.consecutive_errors += 1
            self.error_counts[method] = self.error_counts.get(method, 0) + 1
            self.last_errors.append(
                {"method": method, "error": message, "timestamp": int(time.time() * 1000)}
            )
            if len(self.last_errors) > _LAST_ERRORS_CAP:
                del self.last_errors[: len(self.last_errors) - _LAST_ERRORS_CAP]

    def limit_hit(self) -> None:
        with self._lock:
            self.limit_hits += 1

    def retry(self) -> None:
        with self._lock:
            self.retries += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "retries": self.retries,
                "consecutive_errors": self.consecutive_errors,
                "limit_hits": self.limit_hits,
                "error_counts": dict(self.error_counts),
                "total_requests": self.total_requests,
                "successful_requests": self.successful_requests,
                "failed_requests": self.failed_requests,
                "total_duration": self.total_duration,
                "by_method": {m: dict(v) for m, v in self.by_method.items()},
                "last_errors": [dict(e) for e in self.last_errors],
            }


class Http:
    """REST transport of one API version (JS ``HttpV2``/``HttpV3``).

    Thread-safe; one instance is shared by all threads using a ``B24Hook``.
    ``write_verbs`` (class or instance attribute) decides which methods are
    writes for the "never duplicate a write" rule.
    """

    write_verbs: frozenset[str] = WRITE_METHOD_VERBS

    def __init__(
        self,
        api_version: ApiVersion | str,
        auth: "AuthHookManager",
        transport: _core.Transport,
        restriction_params: Mapping[str, Any] | None = None,
        logger: LoggerInterface | None = None,
    ) -> None:
        self._version = ApiVersion(api_version)
        self._auth = auth
        self._transport = transport
        self.restriction = RestrictionManager(restriction_params)
        self._metrics = _Metrics()
        self._request_ids = RequestIdGenerator()
        self._logger: LoggerInterface = logger if logger is not None else NullLogger()
        self._client_side_warning = False
        self._client_side_warning_message = ""
        self._closed = False

    # -- identity ---------------------------------------------------------
    @property
    def api_version(self) -> ApiVersion:
        return self._version

    def get_base_url(self) -> str:
        """The webhook base URL of this version. It contains the secret."""
        return self._auth._base_url(self._version)

    # -- HTTP options -----------------------------------------------------
    @property
    def timeout(self) -> float:
        """Total seconds for one exchange."""
        return self._transport.timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._transport.timeout = value

    @property
    def headers(self) -> dict[str, str]:
        """Extra request headers (a copy; assign a new dict to change them)."""
        return self._transport.headers

    @headers.setter
    def headers(self, value: Mapping[str, str]) -> None:
        self._transport.headers = dict(value)

    # -- calls --------------------------------------------------------------
    def call(self, method: str, params: Any = None, request_id: str | None = None) -> AjaxResult:
        """One REST call through the pipeline (§5). Soft errors → failed result."""
        return run_call(self, method, params, request_id)

    # -- restriction manager ------------------------------------------------
    def get_restriction_manager_params(self) -> RestrictionParams:
        return self.restriction.get_params()

    def set_restriction_manager_params(self, params: Mapping[str, Any]) -> None:
        """Replace the limiter configuration (missing parts from the defaults)."""
        self.restriction.set_params(params)

    # -- stats ----------------------------------------------------------------
    def get_stats(self) -> dict[str, Any]:
        """Counters and limiter state (§9.6); durations in ms."""
        stats = self.restriction.get_stats()
        stats.update(self._metrics.snapshot())
        return stats

    def reset(self) -> None:
        """Zero the metrics and all limiter state."""
        self._metrics.clear()
        self.restriction.reset()

    # -- logger / warnings ------------------------------------------------------
    @property
    def logger(self) -> LoggerInterface:
        return self._logger

    def get_logger(self) -> LoggerInterface:
        return self._logger

    def set_logger(self, logger: Any) -> None:
        self._logger = adapt_logger(logger)

    def set_client_side_warning(self, value: bool, message: str) -> None:
        self._client_side_warning = bool(value)
        self._client_side_warning_message = message

    # -- lifetime ---------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release connections and buffers. Idempotent."""
        self._closed = True
        self._transport.close()

    def __repr__(self) -> str:
        return f"Http(api_version='{self._version.value}', domain={self._auth._domain!r})"
