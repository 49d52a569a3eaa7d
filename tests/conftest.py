"""Shared fixtures of the client tests.

* ``portal`` (session): an ``EmulatorPortal`` started once, stopped at the end.
* ``b24``: a ``B24Hook`` bound to it (``verify=portal.ca_path``), with a stdlib
  DEBUG logger installed, closed after each test.
* ``secret_guard`` (autouse): captures every log record of the test (the
  client's stdlib logger and the root logger) and fails the test if a known
  secret appears in a message or a context. Unit tests register the secrets
  they use in ``KNOWN_SECRETS``; the portal's secret is added when the test
  uses the portal. The emulator's loggers (server side) and those of the
  peer clients (``SERVER_LOGGERS``) are not checked.
"""
from __future__ import annotations

import logging
from typing import Any, Iterator

import pytest

#: Secrets that must never appear in any log record (unit tests add theirs).
KNOWN_SECRETS: set[str] = {"unit-test-secret-4f9a7c", "hardening-secret-7d31e0b9"}
UNIT_SECRET = "unit-test-secret-4f9a7c"
CLIENT_LOGGER = "b24hook.tests"
#: Loggers not checked: the server side (the emulator logs request paths like
#: any web server) and the peer clients driven by the fidelity tests, which log
#: their own request URLs (urllib3 under b24pysdk).
SERVER_LOGGERS = ("b24hook.emulator", "urllib3", "requests", "b24pysdk")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _record_text(record: logging.LogRecord) -> str:
    parts = [str(record.msg)]
    try:
        parts.append(record.getMessage())
    except Exception:  # noqa: BLE001
        pass
    parts.append(repr(record.args))
    parts.append(repr(getattr(record, "b24", None)))
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(repr(record.exc_info[1]))
    return "\n".join(parts)


@pytest.fixture(autouse=True)
def secret_guard(request: pytest.FixtureRequest) -> Iterator[_Capture]:
    handler = _Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    secrets = set(KNOWN_SECRETS)
    if "portal" in request.fixturenames:
        secrets.add(request.getfixturevalue("portal").secret)
    for record in handler.records:
        if record.name.startswith(SERVER_LOGGERS):
            continue  # the portal's own access log, not the client
        text = _record_text(record)
        for secret in secrets:
            if secret and secret in text:
                pytest.fail(f"a secret leaked into the log record {record.msg!r}", pytrace=False)


@pytest.fixture(scope="session")
def portal() -> Iterator[Any]:
    from b24hook.emulator import EmulatorPortal

    p = EmulatorPortal(db=":memory:", seed_demo=0).start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def b24(portal: Any) -> Iterator[Any]:
    from b24hook import B24Hook

    client = B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path)
    client.set_logger(logging.getLogger(CLIENT_LOGGER))
    try:
        yield client
    finally:
        client.close()
        clear = getattr(portal, "clear_faults", None)
        if clear is not None:
            clear()
