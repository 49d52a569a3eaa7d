"""pytest fixtures for testing your own Bitrix24 integration against the emulator.

Installed with b24hook as a pytest plugin (entry point ``pytest11``), so the
fixtures are available in any project that has b24hook and pytest:

* ``b24_portal`` (session scope): a running :class:`~b24hook.emulator.EmulatorPortal`
  on 127.0.0.1 with an in-memory store; use ``b24_portal.seed_demo(n)``,
  ``b24_portal.inject(...)`` and ``b24_portal.stats()`` in tests.
* ``b24_hook``: a :class:`~b24hook.B24Hook` bound to that portal (TLS verified
  against the portal's own CA), closed after the test.

Example::

    def test_creates_a_deal(b24_hook):
        res = b24_hook.actions.v2.call.make(
            method="crm.deal.add", params={"fields": {"TITLE": "From a test"}})
        assert res.is_success

The emulator needs the ``emulator`` extra (``pip install b24hook[emulator]``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from b24hook import B24Hook
    from b24hook.emulator import EmulatorPortal


@pytest.fixture(scope="session")
def b24_portal() -> "Iterator[EmulatorPortal]":
    """A Bitrix24 emulator portal for the whole test session."""
    from b24hook.emulator import EmulatorPortal

    portal = EmulatorPortal(db=":memory:").start()
    try:
        yield portal
    finally:
        portal.stop()


@pytest.fixture
def b24_hook(b24_portal: "EmulatorPortal") -> "Iterator[B24Hook]":
    """A B24Hook talking to ``b24_portal``; closed when the test ends."""
    from b24hook import B24Hook

    hook = B24Hook.from_webhook_url(b24_portal.v2_url, verify=b24_portal.ca_path)
    try:
        yield hook
    finally:
        hook.close()
