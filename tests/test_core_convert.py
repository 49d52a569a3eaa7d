"""b24hook._core JSON conversion: encode_json / decode_json."""
from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from b24hook import _core


class Color(enum.Enum):
    RED = "red"
    NESTED = {"a": [1, 2]}


class Num(enum.IntEnum):
    ONE = 1


def enc(obj, **kw):
    return json.loads(_core.encode_json(obj, **kw))


def test_scalars_and_containers():
    assert _core.encode_json({"a": [1, 2.5, "x\n\"\\", None, True, False]}) == (
        b'{"a":[1,2.5,"x\\n\\"\\\\",null,true,false]}'
    )
    assert _core.encode_json((1, 2)) == b"[1,2]"
    assert _core.encode_json("\x00\x1f\u00e9\u20ac") == '"\\u0000\\u001f\u00e9\u20ac"'.encode()
    assert _core.encode_json(1.0) == b"1.0"
    assert _core.encode_json(1e16) == b"1e+16"
    assert _core.encode_json(0.1) == b"0.1"


def test_big_int_and_keys():
    big = 2**200 + 7
    assert _core.encode_json(big) == str(big).encode()
    assert _core.encode_json(-(2**70)) == str(-(2**70)).encode()
    assert enc({1: "a", 2**80: "b", None: "d", 1.5: "e"}) == {
        "1": "a", str(2**80): "b", "null": "d", "1.5": "e"}
    assert enc({True: "c", False: "f"}) == {"true": "c", "false": "f"}


def test_conversions():
    assert enc(dt.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05"
    tz = dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)
    assert enc(tz) == "2024-01-02T00:00:00+00:00"
    assert enc(dt.date(2024, 1, 2)) == "2024-01-02"
    assert enc(dt.time(10, 30)) == "10:30:00"
    assert enc(decimal.Decimal("1.10")) == "1.10"
    assert enc(Color.RED) == "red"
    assert enc(Color.NESTED) == {"a": [1, 2]}
    assert enc(Num.ONE) == 1
    assert enc({"k": Num.ONE}) == {"k": 1}


def test_list_as_object():
    assert enc([1, "a"], list_as_object=True) == {"0": 1, "1": "a"}
    assert enc([[1]], list_as_object=True) == {"0": [1]}
    assert enc({"a": [1]}, list_as_object=True) == {"a": [1]}


@pytest.mark.parametrize(
    "bad, words",
    [
        ({1, 2}, "set"),
        (object(), "object"),
        (b"bytes", "bytes"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        ({"x": -float("inf")}, "-Infinity"),
        ("\ud800", "surrogate"),
        ({(1, 2): 1}, "tuple"),
    ],
)
def test_errors(bad, words):
    with pytest.raises(_core.ParamsError, match=words):
        _core.encode_json(bad)
    assert issubclass(_core.ParamsError, ValueError)


def test_cycles_and_depth():
    a: list = []
    a.append(a)
    with pytest.raises(_core.ParamsError, match="circular"):
        _core.encode_json(a)
    d: dict = {}
    d["self"] = {"x": d}
    with pytest.raises(_core.ParamsError, match="circular"):
        _core.encode_json(d)
    deep: list = []
    cur = deep
    for _ in range(600):
        nxt: list = []
        cur.append(nxt)
        cur = nxt
    with pytest.raises(_core.ParamsError, match="512"):
        _core.encode_json(deep)
    # Shared (non-cyclic) references are fine.
    shared = [1]
    assert enc([shared, shared]) == [[1], [1]]


def test_decode_basic():
    assert _core.decode_json(b'{"a":[1,2.0,1.5,-0,1e400,"\\u00e9",null,true]}') == {
        "a": [1, 2, 1.5, 0, math.inf, "\u00e9", None, True]}
    assert type(_core.decode_json("2.0")) is int
    # integer tokens are exact ints, also beyond 2**53 (no float rounding)
    assert _core.decode_json("9007199254740993") == 9007199254740993
    assert _core.decode_json("-123456789012345678901234567890") == -123456789012345678901234567890
    assert type(_core.decode_json("1e3")) is int and type(_core.decode_json("1.5")) is float
    assert _core.decode_json(b'"a\\u0000b\\u00e9\\ud83d\\ude00"') == "a\x00b\u00e9\U0001F600"
    assert _core.decode_json(b'{"\\u0041":1,"A":2}') == {"A": 2}
    assert _core.decode_json(bytearray(b" [1] ")) == [1]
    assert _core.decode_json(memoryview(b'"x"')) == "x"
    # keys repeated across rows share one object (memo)
    rows = _core.decode_json(b'[{"ID":"1"},{"ID":"2"}]')
    assert list(rows[0])[0] is list(rows[1])[0]


@pytest.mark.parametrize("text, offset", [(b"", 0), (b"{", r"\d+"), (b'{"a":}', 5), (b"[1] x", 4)])
def test_decode_errors(text, offset):
    with pytest.raises(ValueError, match=f"byte {offset}"):
        _core.decode_json(text)


def test_decode_deep_nesting_rejected():
    with pytest.raises(ValueError):
        _core.decode_json(b"[" * 5000 + b"]" * 5000)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=8),
        children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_decode_matches_json_loads(value):
    text = json.dumps(value)
    assert _core.decode_json(text.encode()) == json.loads(text)


def _as_decoded(x):
    """json.loads's number under the decoder's rule: an integral double below 2**53 is an int."""
    return int(x) if isinstance(x, float) and math.isfinite(x) and x == int(x) and abs(x) < 2**53 else x


# decimal tokens as a portal writes them (money, `time` members), in and around the bounds of
# the decoder's one-operation path (<= 19 digits, a mantissa <= 2**53, |exponent| <= 22)
_decimal_tokens = st.builds(
    lambda sign, whole, frac, exp: f"{sign}{whole}.{frac}{exp}",
    st.sampled_from(["", "-"]),
    st.integers(min_value=0, max_value=10**20),
    st.integers(min_value=0, max_value=10**20).map(str) | st.sampled_from(["0", "5", "05", "000123"]),
    st.sampled_from([""]) | st.integers(min_value=-330, max_value=330).map(lambda e: f"e{e}")
    | st.integers(min_value=-25, max_value=25).map(lambda e: f"E{e:+d}"),
)


@settings(max_examples=2000, deadline=None)
@given(_decimal_tokens)
def test_decimal_numbers_are_the_nearest_double(token):
    """The decoder's double for a decimal token is exactly json.loads's (the correctly rounded
    one): the same bits, whichever path it took."""
    got, want = _core.decode_json(token.encode()), _as_decoded(json.loads(token))
    assert type(got) is type(want) and got == want, (token, got, want)
    if isinstance(want, float):
        assert math.copysign(1.0, got) == math.copysign(1.0, want) and got.hex() == want.hex()


@pytest.mark.parametrize("token", [
    "0.1", "-0.0", "2.0", "1e22", "1e23", "1e-22", "1e-23", "9007199254740993.0", "9007199254740992.5",
    "1733404800.123456", "0.0001230239868164", "1234567890123456789.5", "12345678901234567890.5",
    "5e-324", "1.7976931348623157e308", "1e400", "-1e400", "4.35", "0.30000000000000004"])
def test_decimal_numbers_at_the_edges(token):
    got, want = _core.decode_json(token.encode()), _as_decoded(json.loads(token))
    assert type(got) is type(want) and got == want, (token, got, want)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_encode_roundtrip(value):
    assert json.loads(_core.encode_json(value)) == value


def test_protocol_numbers_have_one_definition() -> None:
    """csrc/core/b24_protocol.h defines each number once; the face reads it (issue 10 item 5)."""
    import inspect

    from b24hook import B24Hook
    from b24hook._actions_list import V2_PAGE, CallListV3

    assert (_core.V2_PAGE_SIZE, _core.V3_PAGE_DEFAULT, _core.BATCH_MAX_COMMANDS) == (50, 50, 50)
    assert V2_PAGE == _core.V2_PAGE_SIZE
    assert B24Hook.batch_size == _core.BATCH_MAX_COMMANDS
    assert inspect.signature(CallListV3.make).parameters["limit"].default == _core.V3_PAGE_DEFAULT
    assert _core.batch_count_error(_core.BATCH_MAX_COMMANDS) is None
    assert f"max: {_core.BATCH_MAX_COMMANDS}" in (_core.batch_count_error(_core.BATCH_MAX_COMMANDS + 1) or "")
    assert [n for _, n in _core.batch_chunks(120, _core.BATCH_MAX_COMMANDS)] == [50, 50, 20]


def _nest(n: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(n):
        node["k"] = {}
        node = node["k"]
    node["x"] = 1
    return root


def test_bracket_encoding_is_the_core_walker_with_the_python_visitor() -> None:
    """qs_encode / batch_command walk Python objects with b24_qs_walk, the walker the
    core's own tests drive with cJSON trees (issue 10 item 5): conversions, the
    depth rule, cycles and refusals come out as before."""
    class Colour(enum.Enum):
        RED = "red"

    params = {"a": [1, {"b": None}], "d": dt.date(2024, 1, 2), "t": (True, 1.5, False),
              "e": Colour.RED, "m": decimal.Decimal("1.10"), "empty": [], "none": {}}
    assert _core.qs_encode(params) == (
        "a%5B0%5D=1&a%5B1%5D%5Bb%5D=&d=2024-01-02&t%5B0%5D=true&t%5B1%5D=1.5&t%5B2%5D=false"
        "&e=red&m=1.10")
    assert _core.batch_command("crm.x", {1: 2, 2.5: "x"}) == "crm.x?1=2&2.5=x"
    assert _core.qs_encode(_nest(62)).endswith("%5Bx%5D=1")
    with pytest.raises(_core.ParamsError, match="nesting deeper than 63 levels"):
        _core.qs_encode(_nest(63))
    cyc: dict[str, Any] = {}
    cyc["a"] = [cyc]
    with pytest.raises(_core.ParamsError, match="circular reference"):
        _core.qs_encode(cyc)
    with pytest.raises(_core.ParamsError, match="lone surrogate"):
        _core.qs_encode({"k\ud800": 1})
    with pytest.raises(_core.ParamsError, match="a set cannot be sent"):
        _core.qs_encode({"s": {1, 2}})
    # a failure mid-walk leaves no container marked as being walked
    assert _core.qs_encode({"again": [cyc["a"][0] is cyc]}) == "again%5B0%5D=true"


def test_decode_key_prediction_any_order():
    """The decoder predicts each key from the one before it (list pages repeat
    their keys in order); rows whose keys change order, length, escapes, or
    that outgrow the memo mid-answer must still decode exactly like json.loads."""
    import random

    rng = random.Random(10)
    keys = ["a", "ab", "abc", "b", "id", "ID", "title", "k" * 40, ""]
    for _ in range(500):
        rows = []
        for _ in range(rng.randrange(0, 20)):
            ks = rng.sample(keys, rng.randrange(0, len(keys)))
            if rng.random() < 0.3:
                ks.reverse()
            rows.append({k: rng.choice([1, "v", None, {"a": 1, "x\u00e9": 2}]) for k in ks})
        text = json.dumps({"result": rows, "x\\u0041": 1}, ensure_ascii=rng.random() < 0.5)
        assert _core.decode_json(text.encode()) == json.loads(text)
    big = {f"key{i}": i for i in range(3000)}
    text = json.dumps([big, {"key2999": 1, "key0": 2}, big])
    assert _core.decode_json(text.encode()) == json.loads(text)


def _same(got: Any, want: Any) -> None:
    """Equal, of the same types all the way down, and every str of the same
    internal kind as json.loads' (a str built with too wide a kind compares
    equal but is not the same object shape: sys.getsizeof tells; a
    one-character str below U+0100 is the interpreter's shared one)."""
    import sys

    assert type(got) is type(want)
    if isinstance(want, dict):
        assert list(got) == list(want)
        for k in want:
            _same(next(g for g in got if g == k), k)
            _same(got[k], want[k])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _same(g, w)
    elif isinstance(want, str) and len(want) == 1 and ord(want) < 256:
        assert got is want  # the interpreter's shared one-character str
    elif isinstance(want, str):
        assert got == want and sys.getsizeof(got) == sys.getsizeof(want)
    else:
        assert got == want


# every width of str: ASCII, Latin-1, BMP, beyond the BMP (a surrogate pair
# when escaped), the escapes json writes (\n, \", \\, \u0000-\u001f)
_chars = st.sampled_from("aZ09 \"\\/\n\t\x00\x1f\x7f\x80\xe9\xff\u0100\u041f\u20ac\uffff\U00010000\U0001f600")
_texts = st.text(alphabet=_chars | st.characters(blacklist_categories=("Cs",)), max_size=12)
_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
            | st.floats(allow_nan=False, allow_infinity=False) | _texts)
_values = st.recursive(
    _scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(_texts, c, max_size=4),
    max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.dictionaries(_texts, _values, max_size=6), min_size=1, max_size=4),
       st.integers(1, 4), st.booleans())
def test_decode_differential_escapes_kinds_and_key_guess(rows, repeat, ensure_ascii):
    """The decode writes strings straight into a str of the right kind and
    takes predicted keys without reading them: rows repeated (keys in the
    same order, so the prediction hits), escaped or raw UTF-8, every kind of
    str, big ints and floats - the same objects as json.loads, down to the
    str kind.  The integer rule of decode_json (an integral float token
    below 2**53 is an int) is applied to json.loads' answer."""
    def norm(o: Any) -> Any:
        if isinstance(o, float) and o.is_integer() and abs(o) < 2**53:
            return int(o)
        if isinstance(o, list):
            return [norm(x) for x in o]
        if isinstance(o, dict):
            return {k: norm(v) for k, v in o.items()}
        return o

    text = json.dumps({"result": rows * repeat, "total": len(rows)}, ensure_ascii=ensure_ascii)
    _same(_core.decode_json(text.encode()), norm(json.loads(text)))


def test_decode_key_guess_near_misses():
    """A predicted key is taken only when the text repeats its raw bytes up
    to the closing quote: prefixes, extensions, the same key escaped
    differently, keys ending in an escaped quote or backslash."""
    rows = [
        '{"id":1,"idx":2,"a\\"":3,"b\\\\":4,"\\u0041":5,"A":6,"":7}',
        '{"id":1,"id":2,"a\\"":3,"b\\\\":4,"A":5,"\\u0041":6,"":7}',
        '{"idx":1,"i":2,"a\\"b":3,"b\\\\\\\\":4,"\\u0041":5,"":6,"A":7}',
        '{"id":1,"idx":2,"a\\"":3,"b\\\\":4,"\\u0041":5,"A":6,"":7}',
    ]
    for n in range(1, 5):
        text = "[" + ",".join(rows[:n] * 3) + "]"
        _same(_core.decode_json(text.encode()), json.loads(text))
    # a predicted key followed by an invalid value is still an error
    with pytest.raises(ValueError, match="leading zero"):
        _core.decode_json(b'[{"id":1},{"id":01}]')
    with pytest.raises(ValueError, match="lone surrogate"):
        _core.decode_json(b'[{"id":1},{"id":"\\ud800"}]')


@pytest.mark.parametrize("text, words", [
    (b'"\\u0410\\u04zz"', r"bad \\u escape\) at byte 7"),
    (b'"\\u0410\\u0411\\udc00"', r"lone surrogate escape\) at byte 13"),
    (b'"\\u0410\\ud800\\u0041"', r"lone surrogate escape\) at byte 7"),
    (b'"\\u0410\\u0411\\x"', r"\(bad escape\) at byte 13"),
    (b'"\\u0410\\u0411', r"unterminated string\) at byte 13"),
])
def test_decode_escape_runs_fail_where_they_did(text, words):
    """A run of \\uXXXX escapes is read in a tight loop; whatever ends it
    (a surrogate, a bad escape, the end) is still checked at its offset."""
    with pytest.raises(ValueError, match=words):
        _core.decode_json(text)
    assert _core.decode_json(b'"\\u0410\\u0411\\ud83d\\ude00\\n\\u00e9x"') == "\u0410\u0411\U0001f600\n\u00e9x"
    assert _core.decode_json(b'"\\u0410 \\u0411 x\\u00e9 \\n \\u0041"') == "\u0410 \u0411 x\u00e9 \n A"
