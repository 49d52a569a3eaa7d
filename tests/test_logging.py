"""Logger interface, stdlib adapter, fire-and-forget logging (spec §11.3)."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from b24hook import B24Hook, LoggerInterface, LogLevel, NullLogger
from b24hook._logging import StdlibLoggerAdapter, adapt_logger, emit
from tests.conftest import UNIT_SECRET


class ListLogger:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []

    def log(self, level: LogLevel, message: str, context: Any = None) -> None:
        self.events.append(("log", message, context))

    def _mk(name: str):  # type: ignore[no-untyped-def]
        def method(self: "ListLogger", message: str, context: Any = None) -> None:
            self.events.append((name, message, context))
        return method

    debug = _mk("debug")
    info = _mk("info")
    notice = _mk("notice")
    warning = _mk("warning")
    error = _mk("error")
    critical = _mk("critical")
    alert = _mk("alert")
    emergency = _mk("emergency")


def test_levels() -> None:
    assert [int(x) for x in LogLevel] == list(range(8))
    assert LogLevel.NOTICE == 2 and LogLevel.EMERGENCY == 7


def test_null_logger_satisfies_protocol() -> None:
    assert isinstance(NullLogger(), LoggerInterface)
    NullLogger().emergency("x", {"a": 1})


def test_stdlib_adapter_levels_and_extra(caplog: pytest.LogCaptureFixture) -> None:
    std = logging.getLogger("b24hook.tests.adapter")
    adapter = adapt_logger(std)
    assert isinstance(adapter, StdlibLoggerAdapter) and isinstance(adapter, LoggerInterface)
    with caplog.at_level(logging.DEBUG, logger="b24hook.tests.adapter"):
        adapter.debug("d", {"k": 1})
        adapter.notice("n")
        adapter.alert("a")
        adapter.emergency("e")
        adapter.log(LogLevel.WARNING, "w", {"x": 2})
    got = [(r.levelno, r.getMessage(), getattr(r, "b24")) for r in caplog.records]
    assert got == [
        (logging.DEBUG, "d", {"k": 1}),
        (logging.INFO, "n", {}),
        (logging.CRITICAL, "a", {}),
        (logging.CRITICAL, "e", {}),
        (logging.WARNING, "w", {"x": 2}),
    ]


def test_logger_adapter_accepted_and_keeps_both_extras(caplog: pytest.LogCaptureFixture) -> None:
    base = logging.getLogger("b24hook.tests.la")
    adapted = adapt_logger(logging.LoggerAdapter(base, {"tenant": "t1"}))
    assert isinstance(adapted, StdlibLoggerAdapter)
    with caplog.at_level(logging.INFO, logger="b24hook.tests.la"):
        adapted.info("hello", {"request_id": "r"})
    (rec,) = caplog.records
    assert rec.tenant == "t1" and rec.b24 == {"request_id": "r"}  # type: ignore[attr-defined]


def test_missing_methods_warn_but_install() -> None:
    class Partial:
        def info(self, message: str, context: Any = None) -> None:
            pass

    hook = B24Hook("x.bitrix24.com", 1, UNIT_SECRET)
    try:
        obj = Partial()
        with pytest.warns(RuntimeWarning, match="notice"):
            hook.set_logger(obj)
        assert hook.get_logger() is obj
        assert hook.get_http_client("v2").get_logger() is obj
        emit(obj, LogLevel.NOTICE, "dropped silently")
    finally:
        hook.close()


def test_raising_logger_never_reaches_caller() -> None:
    class Boom(ListLogger):
        def info(self, message: str, context: Any = None) -> None:  # type: ignore[override]
            raise RuntimeError("logger broke")

    emit(Boom(), LogLevel.INFO, "x")


def test_set_logger_installs_everywhere_and_is_read_dynamically() -> None:
    hook = B24Hook("x.bitrix24.com", 1, UNIT_SECRET)
    try:
        call_action = hook.actions.v2.call  # created before set_logger
        first, second = ListLogger(), ListLogger()
        hook.set_logger(first)
        assert hook.get_http_client("v3").logger is first
        hook.set_logger(second)
        assert hook.get_http_client("v2").logger is second
        assert call_action._logger is second
        hook.set_logger(None)
        assert isinstance(hook.get_logger(), NullLogger)
    finally:
        hook.close()


def test_deprecated_shim_logs_warning_with_context() -> None:
    hook = B24Hook("127.0.0.1:1", 1, UNIT_SECRET, timeout=2.0)
    logger = ListLogger()
    hook.set_logger(logger)
    try:
        with pytest.warns(DeprecationWarning):
            try:
                hook.call_method("server.time")
            except Exception:  # noqa: BLE001 - nothing listens there
                pass
        warnings_logged = [e for e in logger.events if e[0] == "warning"]
        assert warnings_logged[0][2] == {
            "method": "call_method",
            "replacement": "actions.v2.call.make",
            "removal_version": "3.0.0",
            "code": "JSSDK_CORE_DEPRECATED_METHOD",
        }
    finally:
        hook.close()


def test_details_skipped_when_stdlib_logger_is_quiet() -> None:
    from b24hook._logging import wants_details

    quiet = logging.getLogger("b24hook.tests.quiet")
    quiet.setLevel(logging.WARNING)
    try:
        assert wants_details(adapt_logger(quiet)) is False
        quiet.setLevel(logging.INFO)
        assert wants_details(adapt_logger(quiet)) is True
    finally:
        quiet.setLevel(logging.NOTSET)
    assert wants_details(NullLogger()) is False
    assert wants_details(ListLogger()) is True
