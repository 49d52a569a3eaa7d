"""redact_sensitive_params / redact_sensitive_url (spec §11.2)."""
from __future__ import annotations

from typing import Any

import pytest

from b24hook import REDACTED_PLACEHOLDER, SENSITIVE_PARAM_KEYS, redact_sensitive_params, redact_sensitive_url

R = REDACTED_PLACEHOLDER


def test_constants() -> None:
    assert R == "***REDACTED***"
    assert set(SENSITIVE_PARAM_KEYS) == {
        "auth", "password", "token", "secret", "access_token", "refresh_token",
        "client_secret", "application_token", "sessid", "key", "signature",
    }


@pytest.mark.parametrize("key", ["auth", "AUTH", "Password", "token", "SECRET", "access_token",
                                 "refresh_token", "client_secret", "application_token", "sessid",
                                 "key", "Signature"])
def test_every_key_case_insensitive(key: str) -> None:
    assert redact_sensitive_params({key: "v", "keep": "v"}) == {key: R, "keep": "v"}


def test_exact_names_only() -> None:
    params = {"auth_id": "1", "tokens": "2", "my_key": "3", "keys": "4"}
    assert redact_sensitive_params(params) == params


def test_whole_value_masked_even_empty_or_dict() -> None:
    assert redact_sensitive_params({"auth": "", "token": {"a": 1}, "key": None}) == {"auth": R, "token": R, "key": R}


def test_depths_0_1_2_matched_depth_3_not() -> None:
    params = {"a": {"b": {"token": "x", "c": {"token": "deep"}}}, "token": "t"}
    out = redact_sensitive_params(params)
    assert out == {"a": {"b": {"token": R, "c": {"token": "deep"}}}, "token": R}
    assert params["token"] == "t"  # a copy


def test_lists_do_not_count_as_a_level() -> None:
    params = {"rows": [{"token": "x", "n": [{"secret": "y", "z": {"key": "deep"}}]}]}
    assert redact_sensitive_params(params) == {"rows": [{"token": R, "n": [{"secret": R, "z": {"key": "deep"}}]}]}


def test_strings_scrubbed_where_the_walk_reaches() -> None:
    params = {"cmd": {"a": "crm.item.add?auth=X&fields[TITLE]=y", "b": ["task.x?token=T;rest"]}}
    assert redact_sensitive_params(params) == {
        "cmd": {"a": f"crm.item.add?auth={R}&fields[TITLE]=y", "b": [f"task.x?token={R};rest"]}
    }
    # beyond depth 2 dicts are returned as they are, strings included
    deep = {"a": {"b": {"c": {"d": "x?auth=1"}}}}
    assert redact_sensitive_params(deep) == deep


@pytest.mark.parametrize("value", [None, "auth=1", ["auth=1"], 5, ("a",)])
def test_non_dict_returned_unchanged(value: Any) -> None:
    assert redact_sensitive_params(value) is value


@pytest.mark.parametrize(
    "text, expected",
    [
        ("crm.item.add?auth=X&fields[TITLE]=y", f"crm.item.add?auth={R}&fields[TITLE]=y"),
        ("auth=X", f"auth={R}"),
        ("a=1&TOKEN=abc#frag", f"a=1&TOKEN={R}#frag"),
        ("foo=token=bar", "foo=token=bar"),
        ("SELECT * FROM t WHERE id=5", "SELECT * FROM t WHERE id=5"),
        ("auth[application_token]=z", "auth[application_token]=z"),
        ("x?key=1;secret=2", f"x?key={R};secret=2"),
        ("no equals sign here auth", "no equals sign here auth"),
    ],
)
def test_url_scrub_examples(text: str, expected: str) -> None:
    assert redact_sensitive_url(text) == expected
    assert redact_sensitive_params({"s": text}) == {"s": expected}


def test_url_extra_keys_and_non_strings() -> None:
    assert redact_sensitive_url("a=1&member.id=2", ["member.id"]) == f"a=1&member.id={R}"
    assert redact_sensitive_url("a=1&memberXid=2", ["member.id"]) == "a=1&memberXid=2"
    assert redact_sensitive_url(5) == 5  # type: ignore[arg-type]
    assert redact_sensitive_url(None) is None  # type: ignore[arg-type]
