"""What the lower layers need of a transport, as ``typing.Protocol`` classes.

``_pipeline`` and ``_batch`` sit below ``_http`` (``Http.call`` runs the
pipeline, ``Http.batch`` the transport batch), so they cannot import the
``Http`` class to name its type; they name these instead, and ``Http``
satisfies them structurally. A leaf module: types only, no behaviour.
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol

from . import _core
from ._enums import ApiVersion
from ._logging import LoggerInterface
from ._params import RestrictionManager
from ._result import AjaxResult

__all__ = ["WebhookAuth", "PipelineHttp", "BatchHttp", "ConcurrentCalls"]


class WebhookAuth(Protocol):
    """The authentication of a webhook as a transport reads it (``_hook.AuthHookManager``)."""

    @property
    def _domain(self) -> str: ...

    @property
    def _secret(self) -> str: ...

    def _base_url(self, version: ApiVersion) -> str: ...

    def _limiter_scope(self) -> tuple[str, str]: ...

    def refresh_auth(self) -> object: ...


class PipelineHttp(Protocol):
    """What ``_pipeline.run_call`` reads of the transport it runs a call on (``_http.Http``)."""

    @property
    def closed(self) -> bool: ...

    @property
    def api_version(self) -> ApiVersion: ...

    @property
    def logger(self) -> LoggerInterface: ...

    @property
    def write_verbs(self) -> frozenset[str]: ...

    @property
    def restriction(self) -> RestrictionManager: ...

    @property
    def _auth(self) -> WebhookAuth: ...

    # the plain attributes behind ``closed`` and ``logger``: read on every
    # call without a property's frame (issue 10 profile)
    @property
    def _closed(self) -> bool: ...

    @property
    def _logger(self) -> LoggerInterface: ...

    @property
    def _transport(self) -> _core.Transport: ...

    @property
    def _client_side_warning(self) -> bool: ...

    @property
    def _client_side_warning_message(self) -> str: ...


class ConcurrentCalls(Protocol):
    """Several calls at once (``_pipeline.Flights``, what ``Http.flights()`` gives)."""

    @property
    def active(self) -> int: ...

    def add(self, key: Any, method: str, params: Any = None, request_id: str | None = None) -> None: ...

    def run(self) -> "list[tuple[Any, AjaxResult | Any]]": ...

    def close(self) -> None: ...

    def __enter__(self) -> "ConcurrentCalls": ...

    def __exit__(self, *exc: Any) -> None: ...


class BatchHttp(Protocol):
    """What the transport batch (``_batch``) uses of the transport it sends on (``_http.Http``)."""

    @property
    def api_version(self) -> ApiVersion: ...

    @property
    def logger(self) -> LoggerInterface: ...

    @property
    def write_verbs(self) -> frozenset[str]: ...

    def call(self, method: str, params: Any = None, request_id: str | None = None) -> AjaxResult: ...

    def feed_time(self, name: str, time: Mapping[str, Any]) -> None: ...

    def flights(self) -> ConcurrentCalls: ...
