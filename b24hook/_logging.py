"""Logger interface, the null logger and the stdlib adapter (spec §11.3).

Logging is fire-and-forget: :func:`emit` swallows anything a logger raises.
"""
from __future__ import annotations

import logging
import warnings
from enum import IntEnum
from typing import Any, Mapping, Protocol, runtime_checkable

__all__ = [
    "LogLevel",
    "LoggerInterface",
    "NullLogger",
    "StdlibLoggerAdapter",
    "adapt_logger",
    "emit",
    "is_null_logger",
    "wants_details",
    "LOGGER_METHODS",
]


class LogLevel(IntEnum):
    """PSR-3 levels, as in the JS SDK."""

    DEBUG = 0
    INFO = 1
    NOTICE = 2
    WARNING = 3
    ERROR = 4
    CRITICAL = 5
    ALERT = 6
    EMERGENCY = 7


#: The nine methods a logger must have.
LOGGER_METHODS: tuple[str, ...] = (
    "log",
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
)

_METHOD_BY_LEVEL = {
    LogLevel.DEBUG: "debug",
    LogLevel.INFO: "info",
    LogLevel.NOTICE: "notice",
    LogLevel.WARNING: "warning",
    LogLevel.ERROR: "error",
    LogLevel.CRITICAL: "critical",
    LogLevel.ALERT: "alert",
    LogLevel.EMERGENCY: "emergency",
}

_STDLIB_LEVEL = {
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.INFO: logging.INFO,
    LogLevel.NOTICE: logging.INFO,
    LogLevel.WARNING: logging.WARNING,
    LogLevel.ERROR: logging.ERROR,
    LogLevel.CRITICAL: logging.CRITICAL,
    LogLevel.ALERT: logging.CRITICAL,
    LogLevel.EMERGENCY: logging.CRITICAL,
}


@runtime_checkable
class LoggerInterface(Protocol):
    """What b24hook needs from a logger (PSR-3 shape)."""

    def log(self, level: LogLevel, message: str, context: Mapping[str, Any] | None = None) -> None: ...
    def debug(self, message: str, context: Mapping[str, Any] | None = None) -> None: ...
    def info(self, message: str, context: Mapping[str, Any] | None = None) -> None: ...
    def notice(self, message: str, context: Mapping[str, Any] | None = None) -> None: ...
    def warning(self, message: str, context: Mapping[str, Any] | None = None) -> None: ...
    def error(self, message: str, context: Mapping[str, Any] | None = None) -> None: ...
    def critical(self, message: str, context: Mapping[str, Any] | None = None) -> None: ...
    def alert(self, message: str, context: Mapping[str, Any] | None = None) -> None: ...
    def emergency(self, message: str, context: Mapping[str, Any] | None = None) -> None: ...


class NullLogger:
    """Discards everything (the default logger)."""

    __slots__ = ()

    def log(self, level: LogLevel, message: str, context: Mapping[str, Any] | None = None) -> None:
        pass

    def debug(self, message: str, context: Mapping[str, Any] | None = None) -> None:
        pass

    info = notice = warning = error = critical = alert = emergency = debug

    def __repr__(self) -> str:
        return "NullLogger()"


class StdlibLoggerAdapter:
    """Adapts a ``logging.Logger``/``LoggerAdapter`` to :class:`LoggerInterface`.

    notice → INFO, alert/emergency → CRITICAL; the context goes to
    ``extra={"b24": context}``.
    """

    __slots__ = ("logger",)

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        self.logger = logger

    def log(self, level: LogLevel, message: str, context: Mapping[str, Any] | None = None) -> None:
        std = _STDLIB_LEVEL[LogLevel(level)]
        target = self.logger
        if not target.isEnabledFor(std):
            return
        extra: dict[str, Any] = {}
        if isinstance(target, logging.LoggerAdapter):
            # LoggerAdapter.process() would replace our extra with its own: merge instead.
            message, kwargs = target.process(message, {})
            extra.update(kwargs.get("extra") or {})
            target = target.logger
        extra["b24"] = dict(context) if context else {}
        target.log(std, message, extra=extra)

    def debug(self, message: str, context: Mapping[str, Any] | None = None) -> None:
        self.log(LogLevel.DEBUG, message, context)

    def info(self, message: str, context: Mapping[str, Any] | None = None) -> None:
        self.log(LogLevel.INFO, message, context)

    def notice(self, message: str, context: Mapping[str, Any] | None = None) -> None:
        self.log(LogLevel.NOTICE, message, context)

    def warning(self, message: str, context: Mapping[str, Any] | None = None) -> None:
        self.log(LogLevel.WARNING, message, context)

    def error(self, message: str, context: Mapping[str, Any] | None = None) -> None:
        self.log(LogLevel.ERROR, message, context)

    def critical(self, message: str, context: Mapping[str, Any] | None = None) -> None:
        self.log(LogLevel.CRITICAL, message, context)

    def alert(self, message: str, context: Mapping[str, Any] | None = None) -> None:
        self.log(LogLevel.ALERT, message, context)

    def emergency(self, message: str, context: Mapping[str, Any] | None = None) -> None:
        self.log(LogLevel.EMERGENCY, message, context)

    def __repr__(self) -> str:
        return f"StdlibLoggerAdapter({self.logger!r})"


def adapt_logger(logger: Any) -> LoggerInterface:
    """Turn what a user passes to ``set_logger`` into a :class:`LoggerInterface`.

    ``None`` gives a :class:`NullLogger`; stdlib loggers are adapted; any other
    object missing one of the nine methods triggers a ``RuntimeWarning`` and is
    installed anyway (missing methods are then silently skipped).
    """
    if logger is None:
        return NullLogger()
    if isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
        return StdlibLoggerAdapter(logger)
    missing = [name for name in LOGGER_METHODS if not callable(getattr(logger, name, None))]
    if missing:
        warnings.warn(
            f"logger {type(logger).__name__} lacks {', '.join(missing)}; those log events are dropped",
            RuntimeWarning,
            stacklevel=3,
        )
    return logger  # type: ignore[no-any-return]


def is_null_logger(logger: object) -> bool:
    """True for the default logger."""
    return type(logger) is NullLogger


def wants_details(logger: object) -> bool:
    """False when nothing at INFO level or below would be recorded, so callers
    can skip building log contexts and payload text: the null logger, or a
    stdlib logger whose effective level is above INFO."""
    if type(logger) is NullLogger:
        return False
    if type(logger) is StdlibLoggerAdapter:
        try:
            return bool(logger.logger.isEnabledFor(logging.INFO))
        except Exception:  # noqa: BLE001
            return False
    return True


def emit(logger: Any, level: LogLevel, message: str, context: Mapping[str, Any] | None = None) -> None:
    """Log without ever raising: a broken logger must not break a call."""
    if type(logger) is NullLogger:
        return
    try:
        fn = getattr(logger, _METHOD_BY_LEVEL[level], None)
        if fn is not None:
            fn(message, context)
        else:
            logger.log(level, message, context)
    except Exception:  # noqa: BLE001 - logging is fire-and-forget
        pass
