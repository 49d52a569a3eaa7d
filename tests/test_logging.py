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


# ---------------------------------------------------------------- the stdlib default (issue 13)
def _portal_hook(portal: Any, **params: Any) -> B24Hook:
    """A hook with no set_logger: it logs through logging.getLogger("b24hook")."""
    return B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path,
                                    restriction_params={"retry_delay": 20, **params})


def _b24_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name.startswith("b24hook") and not r.name.startswith("b24hook.emulator")]


def test_package_logger_has_a_null_handler() -> None:
    pkg = logging.getLogger("b24hook")
    assert any(isinstance(h, logging.NullHandler) for h in pkg.handlers)


def test_default_logger_is_stdlib_and_a_call_logs_without_set_logger(
        portal: Any, caplog: pytest.LogCaptureFixture) -> None:
    from b24hook._logging import DefaultLogger

    with _portal_hook(portal) as hook:
        assert isinstance(hook.get_logger(), DefaultLogger)
        with caplog.at_level(logging.DEBUG, logger="b24hook"):
            res = hook.actions.v2.call.make(method="server.time", params={"auth": "p4ss-w0rd"})
        assert res.is_success
    recs = _b24_records(caplog)
    events = [(r.name, r.b24_event) for r in recs]  # type: ignore[attr-defined]
    assert ("b24hook.http", "http request starting") in events
    assert ("b24hook.http", "post/send") in events
    assert ("b24hook.http", "post/response") in events
    assert ("b24hook.http", "http request successful") in events
    start = next(r for r in recs if r.b24_event == "http request starting")  # type: ignore[attr-defined]
    assert start.levelno == logging.DEBUG
    assert start.b24["method"] == "server.time"  # type: ignore[attr-defined]
    assert start.b24["params"] == {"auth": "***REDACTED***"}  # type: ignore[attr-defined]
    for r in recs:
        text = r.getMessage() + repr(r.b24) + repr(vars(r))  # type: ignore[attr-defined]
        assert portal.secret not in text and "p4ss-w0rd" not in text


def test_quiet_default_builds_no_detail_records(portal: Any, caplog: pytest.LogCaptureFixture,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With b24hook at WARNING, the core asks for no per-attempt events."""
    import b24hook._pipeline as pipeline

    seen: list[str] = []
    orig = pipeline._Prepared.__call__

    def spy(self: Any, kind: str, ev: dict[str, Any]) -> None:
        seen.append(kind)
        orig(self, kind, ev)

    monkeypatch.setattr(pipeline._Prepared, "__call__", spy)
    with _portal_hook(portal) as hook:
        with caplog.at_level(logging.WARNING, logger="b24hook"):
            assert hook.actions.v2.call.make(method="server.time").is_success
        assert seen == [] and _b24_records(caplog) == []
        with caplog.at_level(logging.DEBUG, logger="b24hook"):
            assert hook.actions.v2.call.make(method="server.time").is_success
        assert {"attempt", "send", "response", "success"} <= set(seen)


def test_core_limiter_events_reach_the_limiter_logger(portal: Any,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """blocked (rate gate) and decided (QUERY_LIMIT_EXCEEDED) come from the C core."""
    portal.clear_faults()
    portal.inject("status", method="server.time", count=1, status=503)
    params = {"rate_limit": {"burst_limit": 1, "drain_rate": 20, "adaptive_enabled": False}}
    with _portal_hook(portal, **params) as hook:
        with caplog.at_level(logging.WARNING, logger="b24hook"):
            assert hook.actions.v2.call.make(method="server.time").is_success
            assert hook.actions.v2.call.make(method="server.time").is_success
    portal.clear_faults()
    recs = _b24_records(caplog)
    decided = [r for r in recs if r.b24_event == "rateLimiter recognized the error"]  # type: ignore[attr-defined]
    assert decided and decided[0].name == "b24hook.limiter"
    assert decided[0].levelno == logging.ERROR
    assert decided[0].b24["code"] == "QUERY_LIMIT_EXCEEDED"  # type: ignore[attr-defined]
    assert "QUERY_LIMIT_EXCEEDED" in decided[0].getMessage()
    # blocked is a notice (INFO): absent at WARNING, present at INFO
    assert not [r for r in recs if r.b24_event == "rateLimiter blocked method"]  # type: ignore[attr-defined]
    caplog.clear()
    with _portal_hook(portal, **params) as hook:
        with caplog.at_level(logging.INFO, logger="b24hook.limiter"):
            for _ in range(3):
                assert hook.actions.v2.call.make(method="server.time").is_success
    blocked = [r for r in _b24_records(caplog) if r.b24_event == "rateLimiter blocked method"]  # type: ignore[attr-defined]
    assert blocked and blocked[0].name == "b24hook.limiter" and blocked[0].levelno == logging.INFO
    assert blocked[0].getMessage().startswith("rateLimiter blocked method server.time | ")


def test_set_logger_replaces_the_default_for_that_client(portal: Any,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    mine = ListLogger()
    with _portal_hook(portal) as hook, _portal_hook(portal) as other:
        hook.set_logger(mine)
        with caplog.at_level(logging.DEBUG, logger="b24hook"):
            assert hook.actions.v2.call.make(method="server.time").is_success
            assert not _b24_records(caplog)
            assert other.actions.v2.call.make(method="server.time").is_success
            assert _b24_records(caplog)
    assert ("debug", "http request starting") in [(e[0], e[1]) for e in mine.events]
    hook.set_logger(None)
    assert isinstance(hook.get_logger(), NullLogger)


_CONFIG_SCRIPT = r'''
import logging, logging.config, sys
from b24hook import B24Hook
from b24hook.emulator import EmulatorPortal

MODE = sys.argv[1]
if MODE == "dictconfig":
    # a Django-style LOGGING dict (disable_existing_loggers: the b24hook loggers
    # already exist once b24hook is imported; they must keep working)
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": True,
        "formatters": {"f": {"format": "%(name)s|%(levelname)s|%(b24_event)s|%(b24)s|%(message)s"}},
        "handlers": {"out": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                             "formatter": "f"}},
        "loggers": {"b24hook": {"handlers": ["out"], "level": "DEBUG", "propagate": False},
                    "b24hook.emulator": {"handlers": [], "level": "CRITICAL", "propagate": False}},
    })
else:
    logging.basicConfig(level=logging.DEBUG, stream=sys.stdout,
                        format="%(name)s|%(levelname)s|%(message)s")
    logging.getLogger("b24hook.emulator").setLevel(logging.CRITICAL)
with EmulatorPortal() as portal:
    with B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path) as hook:
        assert hook.actions.v2.call.make(method="server.time").is_success
    print("SECRET-PRESENT" if portal.secret in sys.stdout.getvalue() else "", file=sys.stderr)
'''


@pytest.mark.parametrize("mode", ["dictconfig", "basicconfig"])
def test_logging_configuration_picks_b24hook_up_with_no_code(tmp_path: Any, mode: str) -> None:
    import io  # noqa: F401 - the script captures its own stdout below
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "app.py"
    # tee stdout into a buffer the script can search for the secret
    script.write_text("import io, sys\n_real = sys.stdout\n"
                      "class _Tee(io.StringIO):\n"
                      "    def write(self, s):\n        _real.write(s)\n        return super().write(s)\n"
                      "sys.stdout = _Tee()\n" + _CONFIG_SCRIPT)
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr
    assert "SECRET-PRESENT" not in proc.stderr
    lines = proc.stdout.splitlines()
    if mode == "dictconfig":
        assert any(line.startswith("b24hook.http|DEBUG|http request starting|{") for line in lines), lines
        assert any(line.startswith("b24hook.http|INFO|post/response|") for line in lines), lines
    else:
        assert "b24hook.http|DEBUG|http request successful" in lines, lines
