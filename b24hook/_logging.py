"""Logger interface, the null logger, the stdlib adapter and the default
logger (spec §11.3).

By default b24hook logs the Python way: to ``logging.getLogger("b24hook")``
and its children per area (``b24hook.http``, ``b24hook.limiter``,
``b24hook.batch``, ``b24hook.list``, ``b24hook.export``), with a
``NullHandler`` on ``b24hook`` so nothing shows until the application
configures logging.  Every record carries ``record.b24_event`` (a stable event
name) and ``record.b24`` (the event's context, never the secret).

Logging is fire-and-forget: :func:`emit` swallows anything a logger raises.
"""
from __future__ import annotations

import logging
import warnings
from enum import IntEnum
from typing import Any, Mapping, Protocol, runtime_checkable

__all__ = [
    "DefaultLogger",
    "LOGGER_NAME",
    "LogLevel",
    "LoggerInterface",
    "NullLogger",
    "StdlibLoggerAdapter",
    "adapt_logger",
    "emit",
    "is_null_logger",
    "wants_details",
    "wants_events",
    "LOGGER_METHODS",
]

#: The package logger; every default record goes to it or to a child.
LOGGER_NAME = "b24hook"
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())

#: Areas of the default logger's children (``b24hook.<area>``).
AREAS: tuple[str, ...] = ("http", "limiter", "batch", "list", "export")
_AREA_LOGGERS: dict[str, logging.Logger] = {a: logging.getLogger(f"{LOGGER_NAME}.{a}") for a in AREAS}
_HTTP_LOGGER = _AREA_LOGGERS["http"]
_LIMITER_LOGGER = _AREA_LOGGERS["limiter"]


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
    """Discards everything (what ``set_logger(None)`` installs)."""

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
    ``extra={"b24": context, "b24_event": event}`` (the event name is the
    message unless the message has variable parts).
    """

    __slots__ = ("logger",)

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        self.logger = logger

    def _target(self, area: str | None) -> logging.Logger | logging.LoggerAdapter[Any]:
        return self.logger

    def enabled_for(self, level: LogLevel, area: str | None = None) -> bool:
        """Would a record at ``level`` (for ``area``) be handled at all?"""
        return bool(self._target(area).isEnabledFor(_STDLIB_LEVEL[level]))

    def record(
        self,
        level: LogLevel,
        message: str,
        context: Mapping[str, Any] | None = None,
        event: str | None = None,
        area: str | None = None,
    ) -> None:
        """Log ``message`` with its event name and context (what :func:`emit` calls)."""
        std = _STDLIB_LEVEL[LogLevel(level)]
        target = self._target(area)
        if not target.isEnabledFor(std):
            return
        extra: dict[str, Any] = {}
        if isinstance(target, logging.LoggerAdapter):
            # LoggerAdapter.process() would replace our extra with its own: merge instead.
            message, kwargs = target.process(message, {})
            extra.update(kwargs.get("extra") or {})
            target = target.logger
        extra["b24"] = dict(context) if context else {}
        extra["b24_event"] = event if event is not None else message
        target.log(std, message, extra=extra)

    def log(self, level: LogLevel, message: str, context: Mapping[str, Any] | None = None) -> None:
        self.record(level, message, context)

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


class DefaultLogger(StdlibLoggerAdapter):
    """The logger a hook starts with: ``logging.getLogger("b24hook")``, each
    event going to its area's child (``b24hook.http``, ``b24hook.limiter``…).
    Configure those with ``logging`` (basicConfig, dictConfig, Django's
    ``LOGGING``); :meth:`B24Hook.set_logger` replaces it for one client."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(logging.getLogger(LOGGER_NAME))

    def _target(self, area: str | None) -> logging.Logger | logging.LoggerAdapter[Any]:
        if area is None:
            return self.logger
        return _AREA_LOGGERS.get(area, self.logger)

    def __repr__(self) -> str:
        return "DefaultLogger('b24hook')"


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
    """True for the null logger (logging switched off)."""
    return type(logger) is NullLogger


def wants_details(logger: object, area: str | None = "http") -> bool:
    """False when nothing at INFO level or below would be recorded, so callers
    can skip building log contexts and payload text: the null logger, or a
    stdlib logger whose effective level is above INFO."""
    if type(logger) is NullLogger:
        return False
    if isinstance(logger, StdlibLoggerAdapter):
        try:
            return logger.enabled_for(LogLevel.INFO, area)
        except Exception:  # noqa: BLE001
            return False
    return True


def log_wants(logger: object) -> tuple[bool, bool]:
    """``(wants_events(logger), wants_details(logger))`` in as few level checks
    as the call path can afford (it runs on every call): INFO on ``http``
    implies WARNING there."""
    if type(logger) is NullLogger:
        return False, False
    if type(logger) is DefaultLogger:
        # the usual case, without the adapter's frames (what enabled_for asks
        # of the area loggers); logging caches the answers per level itself
        if _HTTP_LOGGER.isEnabledFor(logging.INFO):
            return True, True
        return (_LIMITER_LOGGER.isEnabledFor(logging.WARNING)
                or _HTTP_LOGGER.isEnabledFor(logging.WARNING)), False
    if isinstance(logger, StdlibLoggerAdapter):
        try:
            if logger.enabled_for(LogLevel.INFO, "http"):
                return True, True
            return (logger.enabled_for(LogLevel.WARNING, "limiter")
                    or logger.enabled_for(LogLevel.WARNING, "http")), False
        except Exception:  # noqa: BLE001
            return False, False
    return True, True


def wants_events(logger: object) -> bool:
    """False when no pipeline event at all would be recorded: the null
    logger, or stdlib loggers (``http`` and ``limiter`` areas) above WARNING.
    Notice-level ``blocked`` lines map to INFO and come with the details."""
    if type(logger) is NullLogger:
        return False
    if isinstance(logger, StdlibLoggerAdapter):
        try:
            return logger.enabled_for(LogLevel.WARNING, "limiter") or logger.enabled_for(
                LogLevel.WARNING, "http")
        except Exception:  # noqa: BLE001
            return False
    return True


def emit(
    logger: Any,
    level: LogLevel,
    message: str,
    context: Mapping[str, Any] | None = None,
    *,
    event: str | None = None,
    area: str | None = None,
) -> None:
    """Log without ever raising: a broken logger must not break a call.

    ``event``: the stable event name when ``message`` has variable parts
    (stdlib loggers get it as ``record.b24_event``); ``area``: which child of
    the default ``b24hook`` logger the record goes to."""
    if type(logger) is NullLogger:
        return
    try:
        if isinstance(logger, StdlibLoggerAdapter):
            logger.record(level, message, context, event, area)
            return
        fn = getattr(logger, _METHOD_BY_LEVEL[level], None)
        if fn is not None:
            fn(message, context)
        else:
            logger.log(level, message, context)
    except Exception:  # noqa: BLE001 - logging is fire-and-forget
        pass
