"""Helpers of the AsyncB24Hook tests (tests/test_async.py, tests/test_async_actions.py) and of
the tests that need a portal with the standard limits of their own."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Iterator, TypeVar

from b24hook import AsyncB24Hook, _core
from b24hook._enums import ApiVersion
from b24hook.emulator import EmulatorPortal

T = TypeVar("T")


def standard_portal() -> Iterator[EmulatorPortal]:
    """A portal of its own with the standard limits: burst 50, 2 requests/s (the
    emulator refuses more with QUERY_LIMIT_EXCEEDED). Made a fixture by the module
    that uses it: ``portal = pytest.fixture(scope="module")(standard_portal)``."""
    p = EmulatorPortal(db=":memory:", rate_limit=(50, 2)).start()
    try:
        yield p
    finally:
        p.close()


def clean(portal: EmulatorPortal) -> EmulatorPortal:
    """The portal with no faults, no request in flight, fresh limits and counters."""
    portal.clear_faults()
    portal.wait_idle()
    portal.reset_limits()
    portal.reset_stats()
    return portal


def run(portal: EmulatorPortal, body: Callable[[AsyncB24Hook], Awaitable[T]], **kw: Any) -> T:
    """``body(client)`` on a new loop, the client closed after."""
    async def main() -> T:
        async with AsyncB24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path, **kw) as b24:
            return await body(b24)
    return asyncio.run(main())


def driver(b24: AsyncB24Hook, version: ApiVersion = ApiVersion.V2) -> _core.AioMulti:
    """The client's AioMulti of ``version`` (it exists after the version's first call)."""
    return b24._drivers[version][1]
