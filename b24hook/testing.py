"""pytest fixtures for testing your own Bitrix24 integration (docs/testing.md).

Installed with b24hook as a pytest plugin (entry point ``pytest11``), so the
fixtures are available in any project that has b24hook and pytest:

* ``b24_portal``: a :class:`PortalHandle` on a clean portal for each test.  By
  default the emulator (one per session; rows, faults, limits, settings and
  counters are put back before every test, from an SQLite snapshot); with
  ``--b24-webhook URL`` (or ``B24_WEBHOOK_URL``) the tests marked
  ``@pytest.mark.b24_portal`` run against that real portal instead.
* ``b24_hook``: a :class:`~b24hook.B24Hook` bound to ``b24_portal``, its client
  limiter matching the portal (no client pacing against an emulator without
  limits; the portal's plan against one with limits or a real portal).
* ``b24_emulator`` (session scope): the running
  :class:`~b24hook.emulator.EmulatorPortal` itself.

Markers: ``b24_portal`` (the test may run against a real portal),
``b24_emulator_only`` (the test needs the emulator; skipped with
``--b24-webhook``).  Emulator-only helpers of the handle (``seed``, ``inject``,
``configure``, the request log) skip the test when it runs on a real portal.

Example::

    def test_creates_a_deal(b24_hook, b24_portal):
        res = b24_hook.actions.v2.call.make(
            method="crm.deal.add", params={"fields": {"TITLE": "From a test"}})
        assert res.is_success
        b24_portal.assert_called("crm.deal.add", times=1)

The emulator needs the ``emulator`` extra (``pip install b24hook[emulator]``).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from b24hook import B24Hook
    from b24hook._params import RestrictionParams
    from b24hook.emulator import EmulatorPortal

ENV_WEBHOOK = "B24_WEBHOOK_URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("b24hook")
    group.addoption(
        "--b24-webhook", action="store", default=None, metavar="URL",
        help=f"run tests marked b24_portal against this real portal's inbound webhook "
             f"(default: ${ENV_WEBHOOK}); tests marked b24_emulator_only are skipped")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "b24_portal: runs against the emulator, or the real portal of --b24-webhook")
    config.addinivalue_line(
        "markers", "b24_emulator_only: needs the emulator; skipped when --b24-webhook is given")


def _webhook(config: pytest.Config) -> str | None:
    url = config.getoption("--b24-webhook") or os.environ.get(ENV_WEBHOOK) or None
    return str(url) if url else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _webhook(config) is None:
        return
    skip = pytest.mark.skip(reason="needs the emulator (running against a real portal)")
    for item in items:
        if item.get_closest_marker("b24_emulator_only") is not None:
            item.add_marker(skip)


class PortalHandle:
    """What a test gets as ``b24_portal``: the portal's address and a few
    helpers.  On the emulator every helper works; on a real portal the
    emulator-only ones skip the test."""

    def __init__(self, webhook_url: str, emulator: "EmulatorPortal | None" = None,
                 verify: bool | str = True) -> None:
        self._url = webhook_url
        self.emulator = emulator
        self.verify = verify

    # -- identity -------------------------------------------------------------
    @property
    def is_emulator(self) -> bool:
        return self.emulator is not None

    @property
    def webhook_url(self) -> str:
        """The v2 webhook URL (it holds the secret: never print it)."""
        return self._url

    def __repr__(self) -> str:
        return f"PortalHandle({'emulator' if self.is_emulator else 'real portal'})"

    def _emu(self, what: str) -> "EmulatorPortal":
        if self.emulator is None:
            pytest.skip(f"{what} needs the emulator (running against a real portal)")
        return self.emulator

    # -- emulator-only helpers -------------------------------------------------
    def seed(self, n: int) -> dict[str, Any]:
        """Fill the CRM with ``n`` demo records (companies, contacts, deals...)."""
        return dict(self._emu("seed").seed_demo(n))

    def inject(self, kind: str, method: str | None = None, count: int | None = None,
               **kw: Any) -> Any:
        """Inject a fault (``html``, ``status``, ``reset_after``, ``hang``...;
        docs/emulator.md), e.g. ``inject("status", "crm.deal.add", status=503)``."""
        return self._emu("inject").inject(kind, method=method, count=count, **kw)

    def configure(self, **switches: Any) -> dict[str, Any]:
        """Change emulator settings for this test (``rate_limit=(50, 2)``...);
        the next test starts from the defaults again."""
        return dict(self._emu("configure").configure(**switches))

    def stats(self) -> dict[str, Any]:
        return dict(self._emu("stats").stats())

    def requests(self, method: str | None = None) -> list[dict[str, Any]]:
        """The requests this test made, in order: ``{"method", "status", "api"}``."""
        log = self._emu("the request log").request_log()
        if method is not None:
            log = [r for r in log if r["method"] == method.lower()]
        return log

    def assert_called(self, method: str, times: int | None = None,
                      status: int | None = None) -> list[dict[str, Any]]:
        """Assert ``method`` was requested (``times`` times, with ``status`` if
        given); returns the matching requests."""
        got = self.requests(method)
        if status is not None:
            got = [r for r in got if r["status"] == status]
        if times is None:
            assert got, f"{method} was not requested"
        else:
            assert len(got) == times, f"{method} requested {len(got)} times, expected {times}"
        return got

    def assert_not_called(self, method: str) -> None:
        got = self.requests(method)
        assert not got, f"{method} was requested {len(got)} times"

    def __getattr__(self, name: str) -> Any:
        # the EmulatorPortal's own API (stats(), inject(), limits_state()...)
        if name.startswith("_") or name in ("emulator", "verify"):
            raise AttributeError(name)
        return getattr(self._emu(name), name)


def restriction_params_for(emulator: "EmulatorPortal") -> "RestrictionParams":
    """Client limiter settings that match the emulator's own limits: its
    leaky bucket as burst/drain (or no pacing when it has none), its
    operating budget (or no adaptive delay when it has none)."""
    from b24hook import ParamsFactory

    p = ParamsFactory.get_default()
    s = emulator.settings
    if s.rate_limit is None:
        p["rate_limit"] = {"burst_limit": 1_000_000, "drain_rate": 1_000_000,
                           "adaptive_enabled": False}
    else:
        burst, drain = s.rate_limit
        p["rate_limit"] = {"burst_limit": burst, "drain_rate": drain, "adaptive_enabled": True}
    if s.operating_limit is None:
        p["adaptive_config"]["enabled"] = False
    else:
        p["operating_limit"]["limit_ms"] = int(s.operating_limit * 1000)
    return p


@pytest.fixture(scope="session")
def b24_emulator() -> "Iterator[EmulatorPortal]":
    """The emulator portal of the session (its clean state is the snapshot
    taken at start)."""
    from b24hook.emulator import EmulatorPortal

    portal = EmulatorPortal(db=":memory:").start()
    try:
        yield portal
    finally:
        portal.stop()


@pytest.fixture
def b24_portal(request: pytest.FixtureRequest) -> Iterator[PortalHandle]:
    """A clean portal for this test: the session's emulator put back to its
    snapshot, or the real portal (tests marked ``b24_portal`` with
    ``--b24-webhook``)."""
    url = _webhook(request.config)
    if url is not None and request.node.get_closest_marker("b24_portal") is not None:
        yield PortalHandle(url)
        return
    emulator: EmulatorPortal = request.getfixturevalue("b24_emulator")
    emulator.reset()
    try:
        yield PortalHandle(emulator.v2_url, emulator, verify=emulator.ca_path)
    finally:
        emulator.clear_faults()


@pytest.fixture
def b24_hook(b24_portal: PortalHandle) -> "Iterator[B24Hook]":
    """A B24Hook talking to ``b24_portal``; closed when the test ends."""
    from b24hook import B24Hook

    params = restriction_params_for(b24_portal.emulator) if b24_portal.emulator else None
    hook = B24Hook.from_webhook_url(b24_portal.webhook_url, verify=b24_portal.verify,
                                    restriction_params=params)
    try:
        yield hook
    finally:
        hook.close()
