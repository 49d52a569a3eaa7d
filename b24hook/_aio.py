"""``AsyncB24Hook``: the client of one Bitrix24 inbound webhook for asyncio (issue 11).

The same engine as :class:`~b24hook.B24Hook` (limiter, retries, safe writes, events,
all in C), driven by the running event loop instead of a blocking thread: each API
version's calls run on one ``_core.AioMulti`` (libcurl's multi socket interface on
the loop's readers, writers and timers; the engine's waits are loop timers). The
preparation of a call and the mapping of its answer are the sync client's
(``_pipeline._Prepared``), so an awaited call returns exactly what the sync call
returns.

The actions (``_aio_actions``): ``call``, the list walks and tails (the C walk
machine's pages, driven through its step interface), ``aggregate``, ``batch``
and ``batch_by_chunk``, and the two tools; the fast export is the sync
client's only for now.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any, Mapping

from . import _core
from ._aio_actions import AsyncActionsManager, AsyncToolsManager
from ._checks import closed_error
from ._enums import ApiVersion
from ._hook import B24Hook, _version_of
from ._http import Http, HttpRegistry
from ._logging import LoggerInterface

__all__ = ["AsyncB24Hook"]


class AsyncB24Hook:
    """Client of a Bitrix24 inbound webhook for asyncio; one serves a whole application.

    Build it like :class:`~b24hook.B24Hook` (``AsyncB24Hook.from_webhook_url(url)``
    or from parts) and close it with ``await b24.aclose()`` or ``async with``.
    Every ``make`` is a coroutine returning what the sync one returns. Many tasks
    may call it at once on one event loop: their requests run concurrently, paced
    by the one limiter of the client. Cancelling a task stops its request. It runs
    on the loop of its first call; calling it from another loop raises
    ``RuntimeError`` (make one client per loop). After ``os.fork()`` the child's
    copy runs on the child's first loop (the parent's loop and connections are
    left alone), so a client made before the fork works in both.

    Examples:
        >>> async def main(url: str) -> None:
        ...     async with AsyncB24Hook.from_webhook_url(url) as b24:
        ...         res = await b24.actions.v2.call.make(method="server.time")
    """

    #: Maximum commands of one batch (JS ``AbstractB24.batchSize``).
    batch_size: int = _core.BATCH_MAX_COMMANDS

    def __init__(
        self,
        b24_url: str,
        user_id: int,
        secret: str,
        *,
        restriction_params: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
    ) -> None:
        # the sync client holds the checked parts, the transports, limiters and
        # logger; this one drives the same transports from the loop
        self._hook = B24Hook(b24_url, user_id, secret, restriction_params=restriction_params,
                             timeout=timeout, headers=headers, verify=verify)
        # the loop of this process's first call, by pid; set once by dict.setdefault, one
        # step under the GIL, so two threads' first calls cannot both bind their loops
        self._loops: dict[int, asyncio.AbstractEventLoop] = {}
        self._pid = os.getpid()
        self._drivers: dict[ApiVersion, tuple[Http, _core.AioMulti]] = {}
        self.auth = self._hook.auth
        self.actions = AsyncActionsManager(self)
        self.tools = AsyncToolsManager(self)

    @classmethod
    def from_webhook_url(
        cls,
        url: str,
        *,
        restriction_params: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
    ) -> "AsyncB24Hook":
        """Build from ``https://<portal>/rest/<user_id>/<secret>`` (or ``/rest/api/...``).

        ``ValueError`` with a message that never echoes the URL.
        """
        origin, user_id, secret = _core.parse_webhook_url(url)
        return cls(origin, user_id, secret, restriction_params=restriction_params,
                   timeout=timeout, headers=headers, verify=verify)

    # -- the drivers -----------------------------------------------------------
    def _driver(self, version: ApiVersion) -> tuple[Http, _core.AioMulti]:
        """The transport of ``version`` and its driver on the running loop."""
        if self._hook.closed:
            raise closed_error()
        loop = asyncio.get_running_loop()
        pid = os.getpid()
        if self._pid != pid:
            # a forked child: the parent's loop and drivers are the parent's (the
            # C side leaves their sockets and connections alone); this process
            # binds the client to its own first loop, as a new client would
            self._drivers.clear()
            self._pid = pid
        bound = self._loops.setdefault(pid, loop)
        if bound is not loop:
            raise RuntimeError("an AsyncB24Hook runs on the event loop of its first call; "
                               "make one client per event loop")
        http = self._hook._https.live(version)
        if not isinstance(http, Http):
            raise TypeError("AsyncB24Hook runs on b24hook's own transports only")
        held = self._drivers.get(version)
        if held is None or held[0] is not http:
            if held is not None:
                held[1].close()
            held = (http, _core.AioMulti(http._transport, http.restriction.limiter, loop))
            self._drivers[version] = held
        return held

    @property
    def _https(self) -> HttpRegistry:
        """The transports of the sync client this one drives."""
        return self._hook._https

    # -- state ---------------------------------------------------------------
    @property
    def is_init(self) -> bool:
        return self._hook.is_init

    def init(self) -> None:
        """No-op for a hook (ready after construction), as ``B24Hook.init``."""
        self._hook.init()

    @property
    def closed(self) -> bool:
        return self._hook.closed

    async def aclose(self) -> None:
        """Release connections and buffers; calls still running fail with the
        closed client's ``SdkError``, later calls raise it. Idempotent."""
        self._close()

    def _close(self) -> None:
        drivers = list(self._drivers.values())
        self._drivers.clear()
        for _http, driver in drivers:
            driver.close()
        self._hook.destroy()

    async def __aenter__(self) -> "AsyncB24Hook":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- targets, transports, logger -------------------------------------------
    def get_target_origin(self) -> str:
        """``https://<domain>``."""
        return self._hook.get_target_origin()

    def get_target_origin_with_path(self) -> dict[ApiVersion, str]:
        """Base URLs by version (they contain the secret), as ``B24Hook``'s."""
        return self._hook.get_target_origin_with_path()

    def get_http_client(self, version: ApiVersion | str) -> Http:
        """The transport of ``version`` ("v2"/"v3"): its limiter, stats, timeout, headers."""
        return self._hook.get_http_client(_version_of(version))

    def set_restriction_manager_params(self, params: Mapping[str, Any]) -> None:
        """Apply params to both transports (as ``B24Hook``'s)."""
        self._hook.set_restriction_manager_params(params)

    def get_logger(self) -> LoggerInterface:
        return self._hook.get_logger()

    def set_logger(self, logger: Any) -> None:
        """Install a logger (as ``B24Hook.set_logger``); it is called on the loop."""
        self._hook.set_logger(logger)

    def off_client_side_warning(self) -> None:
        self._hook.off_client_side_warning()

    def __repr__(self) -> str:
        auth = self._hook._auth
        state = ", closed" if self.closed else ""
        return f"AsyncB24Hook(domain={auth._domain!r}, user_id={auth._user_id}{state})"
