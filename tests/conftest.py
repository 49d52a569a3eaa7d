"""Shared fixtures of the client tests.

* ``portal`` (session): an ``EmulatorPortal`` started once, stopped at the end.
* ``b24``: a ``B24Hook`` bound to it (``verify=portal.ca_path``), with a stdlib
  DEBUG logger installed, closed after each test.
* ``secret_guard`` (autouse): captures every log record of the test (the
  client's stdlib logger and the root logger) and fails the test if a known
  secret appears in a message or a context. Unit tests register the secrets
  they use in ``KNOWN_SECRETS``; the portal's secret is added when the test
  uses the portal. The emulator's access log is checked too (it masks the
  secret in request paths); only the peer clients' loggers
  (``SERVER_LOGGERS``) are not checked.
  It also checks (issue 6, tests/hardening) every ``SdkError`` created during
  the test -- caught or not: ``str``, ``repr``, ``to_string()``,
  ``to_json()`` and the formatted traceback with its chain -- every warning recorded for the test, and the failure report's
  traceback text (``pytest_runtest_makereport``).
"""
from __future__ import annotations

import logging
import traceback
from typing import Any, Iterator

import pytest

#: Secrets that must never appear in any log record (unit tests add theirs).
KNOWN_SECRETS: set[str] = {"unit-test-secret-4f9a7c", "hardening-secret-7d31e0b9"}
UNIT_SECRET = "unit-test-secret-4f9a7c"
CLIENT_LOGGER = "b24hook.tests"
#: Loggers not checked: the peer clients driven by the fidelity tests, which log
#: their own request URLs (urllib3 under b24pysdk).
SERVER_LOGGERS = ("urllib3", "requests", "b24pysdk")


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


def _error_texts(exc: BaseException) -> list[str]:
    texts = [str(exc), repr(exc)]
    for name in ("to_string", "to_json"):
        fn = getattr(exc, name, None)
        if fn is not None:
            try:
                texts.append(str(fn()))
            except Exception:  # noqa: BLE001 - a broken formatter is not a leak
                pass
    # original_error itself is not checked: unit tests build errors around
    # raw secret-bearing exceptions on purpose (the C core scrubs libcurl's
    # text before it becomes one; tests/hardening checks that path).
    texts.append("".join(traceback.format_exception(exc)))
    return texts


def _test_secrets(request: pytest.FixtureRequest | Any, funcargs: dict[str, Any] | None = None) -> set[str]:
    secrets = set(KNOWN_SECRETS)
    portal_obj = None
    if funcargs is not None:
        portal_obj = funcargs.get("portal")
    elif "portal" in request.fixturenames:
        portal_obj = request.getfixturevalue("portal")
    if portal_obj is not None:
        secrets.add(portal_obj.secret)
        for attr in ("v2_url", "v3_url"):
            url = getattr(portal_obj, attr, None)
            if isinstance(url, str):
                secrets.add(url)  # the full webhook URL (contains the secret anyway)
    return {s for s in secrets if s}


@pytest.fixture(autouse=True)
def secret_guard(request: pytest.FixtureRequest) -> Iterator[_Capture]:
    from b24hook._errors import SdkError

    handler = _Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    created: list[BaseException] = []
    orig_init = SdkError.__init__

    def recording_init(self: BaseException, *args: Any, **kwargs: Any) -> None:
        orig_init(self, *args, **kwargs)  # type: ignore[arg-type]
        created.append(self)

    SdkError.__init__ = recording_init  # type: ignore[method-assign]
    try:
        yield handler
    finally:
        SdkError.__init__ = orig_init  # type: ignore[method-assign]
        root.removeHandler(handler)
        root.setLevel(old_level)
    secrets = _test_secrets(request)
    for record in handler.records:
        if record.name.startswith(SERVER_LOGGERS):
            continue  # the portal's own access log, not the client
        text = _record_text(record)
        for secret in secrets:
            if secret and secret in text:
                pytest.fail(f"a secret leaked into the log record {record.msg!r}", pytrace=False)
    for exc in created:
        for text in _error_texts(exc):
            for secret in secrets:
                if secret in text:
                    pytest.fail(f"a secret leaked into a {type(exc).__name__} "
                                f"({getattr(exc, 'code', '?')}) text", pytrace=False)
    created.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """Fail a test whose recorded warnings show a secret; mask secrets in the
    text of failure reports."""
    outcome = yield
    report = outcome.get_result()
    secrets = _test_secrets(None, getattr(item, "funcargs", {}))
    if report.longrepr is not None and report.failed:
        # A failing test's report may quote the test's own secrets (its
        # source, locals, parameters): mask them so CI logs stay clean.
        text = str(report.longrepr)
        masked = text
        for secret in sorted(secrets, key=len, reverse=True):
            masked = masked.replace(secret, "***REDACTED***")
        if masked != text:
            report.longrepr = masked
    warnings_text = _WARNINGS.pop(item.nodeid, []) if report.when == "teardown" else []
    for text in warnings_text:
        for secret in secrets:
            if secret in text:
                report.outcome = "failed"
                report.longrepr = "a secret leaked into a warning of this test (text withheld)"
                return


_WARNINGS: dict[str, list[str]] = {}


def pytest_warning_recorded(warning_message: Any, when: str, nodeid: str, location: Any) -> None:
    if nodeid:
        _WARNINGS.setdefault(nodeid, []).append(str(warning_message.message))


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
