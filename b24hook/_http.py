"""The per-version transport object returned by ``B24Hook.get_http_client``.

It wraps one ``_core.Transport`` (a v2 or v3 base URL), its restriction
manager, its metrics and its logger; ``call`` runs the pipeline of §5.
:class:`HttpRegistry` holds a client's current ``Http`` of each version for
its actions.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Mapping, Protocol

from . import _core
from ._batch import transport_batch
from ._checks import WRITE_METHOD_VERBS, closed_error
from ._enums import ApiVersion
from ._errors import SdkError
from ._logging import DefaultLogger, LoggerInterface, adapt_logger
from ._params import RestrictionManager, RestrictionParams
from ._pipeline import Flights, run_call
from ._protocols import WebhookAuth
from ._request_id import RequestIdGenerator
from ._result import AjaxResult, Result

__all__ = ["Http", "HttpRegistry", "AsyncClient"]



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
        auth: WebhookAuth,
        transport: _core.Transport,
        restriction_params: Mapping[str, Any] | None = None,
        logger: LoggerInterface | None = None,
    ) -> None:
        self._version = ApiVersion(api_version)
        self._auth = auth
        self._transport = transport
        self.restriction = RestrictionManager(restriction_params, scope=auth._limiter_scope())
        self._request_ids = RequestIdGenerator()
        self._logger: LoggerInterface = logger if logger is not None else DefaultLogger()
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

    def flights(self) -> Flights:
        """Several calls at once on this thread (libcurl's multi interface, the
        GIL released): ``with http.flights() as f: f.add(key, method, params)``,
        then ``f.run()`` until ``f.active`` is 0. See :class:`Flights`."""
        return Flights(self)

    # -- restriction manager ------------------------------------------------
    def batch(self, calls: Any, options: Mapping[str, Any] | None = None) -> Result[Any]:
        """Up to 50 commands in one ``batch`` request (JS ``http.batch``).

        ``options``: ``is_halt_on_error`` (default True), ``request_id``.
        Returns ``Result(data={"result": {index: AjaxResult}, "time": ...})``
        (spec §6.6.4); ``actions.<v>.batch.make`` shapes the same answer.
        """
        return transport_batch(self, calls, options)

    def get_restriction_manager_params(self) -> RestrictionParams:
        return self.restriction.get_params()

    def set_restriction_manager_params(self, params: Mapping[str, Any]) -> None:
        """Replace the limiter configuration (missing parts from the defaults)."""
        self.restriction.set_params(params)

    # -- stats ----------------------------------------------------------------
    def get_stats(self) -> dict[str, Any]:
        """Counters and limiter state (§9.6); durations in ms."""
        return self.restriction.get_stats()

    def reset(self) -> None:
        """Zero the metrics and all limiter state."""
        self.restriction.reset()

    def feed_time(self, name: str, time: Mapping[str, Any]) -> None:
        """Feed one answer's ``time`` dict to the operating limiter under ``name``.

        For batches: call it with ``batch::<method>`` and each command's
        ``time`` (v2 ``result_time``), so that later batches containing that
        method wait for its budget (§9.3). A plain method name also works
        and then counts for the rate limiter's success accounting.
        """
        self.restriction.feed_time(name, time)

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


class HttpRegistry:
    """The current :class:`Http` of each API version of one client, and whether
    the client is closed.

    ``B24Hook`` owns one and hands it to its actions, which hold it with their
    version (never the hook) and look their ``Http`` up at each call:
    ``B24Hook.set_http_client`` may swap a transport after construction, and
    the actions see the swap at once. ``B24Hook.destroy`` sets ``closed``.
    """

    __slots__ = ("by_version", "closed", "_owner")

    def __init__(self, owner: object) -> None:
        #: ``ApiVersion`` -> transport (an ``Http``, or any test double given
        #: to ``set_http_client``).
        self.by_version: dict[ApiVersion, Any] = {}
        self.closed = False
        # The client that owns these transports, never read: held so that an
        # action or namespace kept alive keeps its client alive too.
        self._owner = owner

    def get(self, version: ApiVersion) -> Http:
        """The transport of ``version``, closed client or not (``get_http_client``)."""
        http = self.by_version.get(version)
        if http is None:
            raise SdkError(f"JSSDK_CORE_B24_HTTP_{version.name}_NOT_INIT", 500,
                           f"HTTP client {version.value} is not initialised")
        return http  # type: ignore[no-any-return]

    def live(self, version: ApiVersion) -> Http:
        """The transport to call on: the error of a closed client first, then :meth:`get`."""
        if self.closed:
            raise closed_error()
        http = self.by_version.get(version)
        return http if http is not None else self.get(version)  # get() raises the error

    def getter(self, version: ApiVersion) -> Callable[[], Http]:
        """A zero-argument :meth:`live` of ``version``."""
        return functools.partial(self.live, version)

    def __repr__(self) -> str:
        state = ", closed" if self.closed else ""
        return f"<HttpRegistry {', '.join(v.value for v in self.by_version)}{state}>"


class AsyncClient(Protocol):
    """What the async actions and the async export read of their client
    (``_aio.AsyncB24Hook``, a floor above them)."""

    @property
    def _https(self) -> HttpRegistry:
        """The sync client's transports, by version."""

    def _driver(self, version: ApiVersion) -> tuple[Http, _core.AioMulti]:
        """The transport of ``version`` and its driver on the running loop."""
