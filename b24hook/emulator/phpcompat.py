"""PHP-compatible encoding and parsing: ``json_encode`` and ``parse_str``.

The portal is PHP.  Its answers are produced by ``json_encode`` with
``JSON_HEX_TAG|JSON_HEX_AMP|JSON_HEX_APOS|JSON_HEX_QUOT`` (portal.md §3) and
its parameters are read with PHP's bracket rules (portal.md §2.1).  Both are
reproduced here so a client is judged against the real quirks.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import unquote_plus

__all__ = ["php_json_encode", "php_normalize", "parse_str", "parse_str_into",
           "to_xml", "EncodingError"]


class EncodingError(ValueError):
    """The value cannot be encoded (PHP: WRONG_ENCODING)."""


_INT_KEY = re.compile(r"^(0|-?[1-9][0-9]*)$")


def _php_key(k: Any) -> Any:
    """PHP array keys: integer-like strings become integers."""
    if isinstance(k, bool):
        return int(k)
    if isinstance(k, int):
        return k
    if isinstance(k, str) and _INT_KEY.match(k) and len(k) < 19:
        return int(k)
    return k


def php_normalize(value: Any) -> Any:
    """Turn Python data into what a PHP array becomes after json_encode.

    * an empty map is ``[]``;
    * a map whose keys are exactly 0..n-1 in order is a list;
    * tuples are lists; floats that are NaN/inf are refused.
    """
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is dict:
        if not value:
            return []
        keys = [_key_of(k) for k in value]
        if all(type(k) is int for k in keys) and keys == list(range(len(keys))):
            return [php_normalize(v) for v in value.values()]
        return {str(k): php_normalize(v) for k, v in zip(keys, value.values())}
    if t is list or t is tuple:
        return [php_normalize(v) for v in value]
    if isinstance(value, dict):
        return php_normalize(dict(value))
    if isinstance(value, (list, tuple)):
        return [php_normalize(v) for v in value]
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise EncodingError("Inf and NaN cannot be JSON encoded")
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise EncodingError(f"Type is not supported: {type(value).__name__}")


#: ``_php_key`` of the map keys seen (row field names repeat in every answer)
_KEYS: dict[str, Any] = {}
_KEYS_MAX = 4096


def _key_of(k: Any) -> Any:
    if type(k) is str:
        r = _KEYS.get(k)
        if r is None:
            r = _php_key(k)
            if len(_KEYS) < _KEYS_MAX:
                _KEYS[k] = r
        return r
    return _php_key(k)


_HEX = {"<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "'": "\\u0027"}
_QUOTE_RE = re.compile(r'\\(.)')          # the escape pairs of json.dumps' output
_SPECIALS = (("/", "\\/"), *_HEX.items())


def _fix_quote(m: re.Match[str]) -> str:
    return "\\u0022" if m.group(1) == '"' else m.group(0)


def php_json_encode(value: Any) -> bytes:
    """``json_encode($value, JSON_HEX_TAG|JSON_HEX_AMP|JSON_HEX_APOS|JSON_HEX_QUOT)``.

    Non-ASCII as ``\\uXXXX`` (lower-case hex, as PHP), ``/`` as ``\\/``,
    ``< > & ' "`` inside strings as ``\\u003C \\u003E \\u0026 \\u0027 \\u0022``.
    """
    try:
        text = json.dumps(php_normalize(value), ensure_ascii=True,
                          separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EncodingError(str(exc)) from exc
    # Outside strings JSON output never contains these characters, and json.dumps
    # never escapes them, so each one is a literal character of a string: plain
    # replacements are exact.  Only ``\"`` needs the scan over escape pairs (its
    # backslash may be the second half of ``\\``).
    if '\\"' in text:
        text = _QUOTE_RE.sub(_fix_quote, text)
    for ch, rep in _SPECIALS:
        if ch in text:
            text = text.replace(ch, rep)
    return text.encode("ascii")


# ---------------------------------------------------------------- parse_str

def _next_index(arr: dict[str, Any]) -> str:
    n = -1
    for k in arr:
        if _INT_KEY.match(k):
            n = max(n, int(k))
    return str(n + 1)


def _split_key(key: str) -> tuple[str, list[str | None]] | None:
    """Split ``a[b][]`` into ("a", ["b", None]) following php_register_variable."""
    key = key.lstrip(" ")
    if not key:
        return None
    # base name: up to the first '[' that has a matching ']'
    i = key.find("[")
    base_end = len(key)
    has_subs = False
    if i >= 0 and key.find("]", i) >= 0:
        base_end = i
        has_subs = True
    base = key[:base_end]
    if not has_subs:
        # an unmatched '[' turns into '_' (only the first one) as in PHP
        pass
    base = base.replace(" ", "_").replace(".", "_")
    if "[" in base and not has_subs:
        base = base.replace("[", "_", 1)
    if base == "":
        return None
    subs: list[str | None] = []
    if has_subs:
        pos = base_end
        while pos < len(key) and key[pos] == "[":
            close = key.find("]", pos + 1)
            if close < 0:
                break  # PHP ignores the rest
            seg = key[pos + 1:close]
            subs.append(seg if seg != "" else None)
            pos = close + 1
    return base, subs


def parse_str_into(target: dict[str, Any], qs: str | bytes, *, max_depth: int = 64) -> dict[str, Any]:
    if isinstance(qs, bytes):
        qs = qs.decode("utf-8", "replace")
    for part in qs.split("&"):
        if not part:
            continue
        if "=" in part:
            k, v = part.split("=", 1)
        else:
            k, v = part, ""
        key = unquote_plus(k)
        val = unquote_plus(v)
        split = _split_key(key)
        if split is None:
            continue
        base, subs = split
        if len(subs) > max_depth:
            continue
        if not subs:
            target[base] = val
            continue
        cur = target
        name = base
        for seg in subs:
            node = cur.get(name)
            if not isinstance(node, dict):
                node = {}
                cur[name] = node
            cur = node
            name = _next_index(cur) if seg is None else seg
        cur[name] = val
    return target


def parse_str(qs: str | bytes) -> dict[str, Any]:
    """PHP ``parse_str``: bracket syntax, ``a[]=`` appends, last scalar wins.

    Arrays come back as dicts with string keys (PHP arrays); integer-like
    keys are kept as their decimal string.  Use :func:`php_normalize` or the
    method helpers to see them as lists.
    """
    return parse_str_into({}, qs)


# ---------------------------------------------------------------- XML

def _xml_escape(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _xml_node(name: str, value: Any, out: list[str]) -> None:
    value = php_normalize(value) if isinstance(value, (dict, list, tuple)) else value
    out.append(f"<{name}>")
    if isinstance(value, dict):
        for k, v in value.items():
            tag = k if re.match(r"^[A-Za-z_][\w.-]*$", k) else "item"
            _xml_node(tag, v, out)
    elif isinstance(value, list):
        for v in value:
            _xml_node("item", v, out)
    elif value is True:
        out.append("true")
    elif value is False or value is None:
        pass
    else:
        out.append(_xml_escape(str(value)))
    out.append(f"</{name}>")


def to_xml(body: dict[str, Any]) -> bytes:
    """Minimal XML transport: root <response>, numeric keys as <item>."""
    out = ['<?xml version="1.0" encoding="utf-8"?>']
    _xml_node("response", body, out)
    return "".join(out).encode("utf-8")
