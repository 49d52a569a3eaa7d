"""decode_json against json.loads (the hypothesis side of the fuzzing; the
libFuzzer side is csrc/fuzz/fuzz_convert.c), and the parser's caps.

Oracle: for any text json.loads accepts (UTF-8, no NaN/Infinity) decode_json
gives the same value after the number rule (an integer token is an exact
int; any other number is a float, or an int when integral and below 2**53;
beyond the double range -> +-inf); for any text it rejects, decode_json
raises a plain ValueError.  Documented differences (skipped): escaped lone
surrogates are rejected, a nesting deeper than 1000 or a string over 16 MiB
is a cap, an integer of more digits than int's max_str_digits is a float.
"""
from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from b24hook import _core


def _const(name: str) -> Any:
    raise ValueError(name)


def _norm(x: Any) -> Any:
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, int):
        return x
    if isinstance(x, float):
        return int(x) if x.is_integer() and abs(x) < 2**53 else x
    if isinstance(x, list):
        return [_norm(v) for v in x]
    return {k: _norm(v) for k, v in x.items()}


def _oracle(data: bytes) -> None:
    try:
        want = _norm(json.loads(data.decode("utf-8-sig"), parse_constant=_const))
        ok = True
    except (ValueError, RecursionError) as exc:
        if "digits" in str(exc):                        # int's max_str_digits
            return
        ok = False
    try:
        got = _core.decode_json(data)
    except ValueError as exc:
        assert type(exc) is ValueError, type(exc)       # not UnicodeDecodeError & co
        assert "at byte" in str(exc)
        assert not ok or b"\\u" in data or "cap" in str(exc) or "nesting" in str(exc), data
        return
    assert ok, f"accepted invalid JSON {data!r}"
    assert got == want, data


json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.sampled_from([None, 0, 2]), st.booleans())
def test_valid_json_decodes_like_json_loads(value, indent, ascii_only):
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    _oracle(text.encode("utf-8", "surrogatepass"))


json_alphabet = st.sampled_from(list(b'{}[],:"\\ \t\r\n-+.0123456789eEtruefalsnul'
                                     b"\x00\x01\x7f\xc3\xa9\xed\xa0\x80\xff\xef\xbb\xbf/bfu"))


@settings(max_examples=1500, deadline=None)
@given(st.lists(json_alphabet, max_size=40).map(bytes))
@example(b"1.")
@example(b"01")
@example(b"\x01[1]")
@example(b'"\t"')
@example(b"NaN")
@example(b"[-Infinity]")
@example(b'"\xed\xa0\x80"')
@example(b'"\xc0\xaf"')
@example(b"\xef\xbb\xbf[1]")
@example(b"[1]\x00")
def test_any_bytes_decode_or_raise_a_clean_value_error(data):
    _oracle(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_never_crash(data):
    _oracle(data)


def test_caps_are_typed_value_errors():
    with pytest.raises(ValueError, match=r"nesting deeper than 1000 levels at byte 1000$"):
        _core.decode_json(b"[" * 1001 + b"]" * 1001)
    assert _core.decode_json(b"[" * 1000 + b"]" * 1000) is not None
    with pytest.raises(ValueError, match=r"string longer than the cap"):
        _core.decode_json(b'"' + b"x" * (16 * 1024 * 1024 + 2) + b'"')
    with pytest.raises(ValueError, match=r"not valid UTF-8\) at byte 2"):
        _core.decode_json(b'["\xff"]')
    with pytest.raises(ValueError, match=r"lone surrogate"):
        _core.decode_json(b'"\\udc00"')


def test_documented_differences():
    assert _core.decode_json(b'{"a":1,"a":2}') == {"a": 2}          # last wins, like json
    assert _core.decode_json(b"\xef\xbb\xbf[1]") == [1]              # one UTF-8 BOM skipped
    assert _core.decode_json(b'"a\\u0000b"') == "a\x00b"             # like json.loads
    assert _core.decode_json(b"1" * 400) == int("1" * 400)           # exact int
    assert _core.decode_json(b"9" * 5000) == math.inf                # > max_str_digits
    assert _core.decode_json(b"1e400") == math.inf                   # beyond the double range
    assert _core.decode_json(b"9007199254740993") == 9007199254740993
