"""Checks and error builders shared by the pipeline, the transport and the actions.

A leaf module: it imports only ``_errors``. Everything here runs before any
I/O: the write rule (which methods are writes, Decisions item 8), the method
name and request id checks, and the errors of refused input and of a closed
client.
"""
from __future__ import annotations

import functools
from typing import Any, Final

from ._errors import CLIENT_CLOSED_CODE, AjaxError, SdkError

__all__ = [
    "WRITE_METHOD_VERBS",
    "is_write_method",
    "is_write_call",
    "closed_error",
    "invalid_params_error",
    "params_refusal_text",
    "check_method",
    "check_request_id",
]

#: Last name segments that make a method a write (Decisions taken, item 8).
#: A segment that *starts* with one of them (``addcomment``, ``startwatch``)
#: also counts: treating a read as a write only forgoes an unsafe retry.
#: Override per transport with ``http.write_verbs = frozenset({...})``.
WRITE_METHOD_VERBS: frozenset[str] = frozenset(
    {
        "add", "update", "delete", "remove", "set", "unset", "bind", "unbind",
        "send", "start", "stop", "complete", "approve", "disapprove", "import",
        "upload", "attach", "detach", "move", "copy", "create", "edit", "modify",
        "save", "register", "unregister", "clear", "reset", "renew", "defer",
        "delegate", "pause", "resume", "terminate", "kill", "accept", "decline",
        "enable", "disable", "mute", "unmute", "pin", "unpin", "read", "unread",
        "like", "unlike", "vote", "close", "reopen", "restore", "rename",
        "share", "publish", "unpublish", "assign", "merge", "convert", "execute",
        "run", "invite", "join", "leave", "mark", "confirm", "cancel", "finish",
        "change", "replace", "apply", "sort", "hide", "show", "activate",
        "deactivate", "favorite", "unfavorite",
    }
)


@functools.lru_cache(maxsize=4096)
def _prefixes(verbs: frozenset[str]) -> tuple[str, ...]:
    return tuple(v for v in verbs if len(v) >= 3)


@functools.lru_cache(maxsize=4096)
def is_write_method(method: str, verbs: frozenset[str] = WRITE_METHOD_VERBS) -> bool:
    """True when the last segment of ``method`` is (or starts with) a write verb.

    Cached per (method, verbs): it runs on every call, and a program uses few
    method names.
    """
    last = method.rsplit(".", 1)[-1].lower()
    return last in verbs or last.startswith(_prefixes(verbs))


def _command_methods(params: Any) -> list[str]:
    """Method names of a batch's commands (v2 ``cmd`` list/dict, v3 list)."""
    names: list[str] = []
    items: Any = ()
    if isinstance(params, dict):
        cmd = params.get("cmd")
        if isinstance(cmd, dict):
            items = list(cmd.values())
        elif isinstance(cmd, (list, tuple)):
            items = cmd
    elif isinstance(params, (list, tuple)):
        items = params
    for c in items:
        if isinstance(c, str):
            names.append(c.split("?", 1)[0])
        elif isinstance(c, dict) and isinstance(c.get("method"), str):
            names.append(c["method"])
        elif isinstance(c, (list, tuple)) and c and isinstance(c[0], str):
            names.append(c[0])
    return names


def is_write_call(method: str, params: Any, verbs: frozenset[str] = WRITE_METHOD_VERBS) -> bool:
    """A write method, or a ``batch`` with at least one write command."""
    if method == "batch":
        return any(is_write_method(m, verbs) for m in _command_methods(params))
    return is_write_method(method, verbs)


def closed_error() -> SdkError:
    """The error of any call on a closed client (Decisions item 6)."""
    return SdkError(CLIENT_CLOSED_CODE, 500, "The client is closed: create a new B24Hook")


def invalid_params_error(query: dict[str, Any], exc: BaseException | None = None) -> AjaxError:
    """JSSDK_INVALID_PARAMS (400): params that JSON cannot carry, raised before any I/O.

    The JS text "Parameters contain circular references" is kept for a real
    cycle only; any other refusal (too deep, an unsupported type, a lone
    surrogate, an integer over the digit limit) says what it is, naming
    ``params`` (issue 9 item 2; docs/decisions.md).
    """
    return AjaxError("JSSDK_INVALID_PARAMS", 400, params_refusal_text(exc), None, query)


def params_refusal_text(exc: BaseException | None, where: str = "params") -> str:
    """The message of a JSSDK_INVALID_PARAMS refusal (see invalid_params_error)."""
    detail = str(exc) if exc is not None else ""
    if not detail or "circular reference" in detail:
        return "Parameters contain circular references" if where == "params" else \
            f"{where}: Parameters contain circular references"
    return f"{where}: {detail}"


#: Longest method name accepted (real names are under 80 characters).
METHOD_MAX_LEN: Final = 200
_METHOD_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:")
REQUEST_ID_MAX_LEN: Final = 256
#: Method names that passed check_method (exact str objects' values), at most 4,096.
_GOOD_METHODS: set[str] = set()


def check_method(method: Any, name: str = "method") -> str:
    """Refuse, before any I/O, a method name the portal could not mean.

    ASCII letters, digits and ``. _ - :`` only, at most 200 characters,
    no empty or dot-only segment (``.``/``..`` would let a URL normaliser drop
    the secret's path segment). ``TypeError``/``ValueError`` naming ``name``.
    """
    if type(method) is str and method in _GOOD_METHODS:
        return method  # checked before: a program uses few names (issue 10 profile)
    if not isinstance(method, str):
        raise TypeError(f"{name} must be a str, not {type(method).__name__}")
    if not method:
        raise ValueError(f"{name} must be a non-empty string")
    if len(method) > METHOD_MAX_LEN:
        raise ValueError(f"{name} is longer than {METHOD_MAX_LEN} characters ({len(method)})")
    bad = next((c for c in method if c not in _METHOD_CHARS), None)
    if bad is not None:
        shown = ascii(bad)
        raise ValueError(f"{name} may contain only ASCII letters, digits and . _ - : (found {shown})")
    if any(seg == "" for seg in method.split(".")):
        raise ValueError(f"{name} has an empty segment (leading, trailing or doubled '.')")
    if type(method) is str and len(_GOOD_METHODS) < 4096:
        _GOOD_METHODS.add(method)
    return method


def check_request_id(request_id: Any) -> None:
    """A caller's request id: a str of printable characters, at most 256."""
    if request_id is None:
        return
    if not isinstance(request_id, str):
        raise TypeError(f"request_id must be a str, not {type(request_id).__name__}")
    if len(request_id) > REQUEST_ID_MAX_LEN:
        raise ValueError(f"request_id is longer than {REQUEST_ID_MAX_LEN} characters")
    if not request_id.isprintable():
        raise ValueError("request_id must contain only printable characters")
    try:
        request_id.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("request_id is not valid Unicode (lone surrogate)") from None

