"""``B24HOOK_CA_BUNDLE``: a CA bundle for every client built with the default
``verify=True`` (docs/construction.md; the doc-block tests and the CLI rely on it)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trustme

from b24hook import AjaxError, B24Hook, SdkError


def _profile_ok(hook: B24Hook) -> bool:
    with hook:
        return hook.actions.v2.call.make(method="profile").is_success


def test_env_bundle_is_trusted_when_verify_is_default(portal: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("B24HOOK_CA_BUNDLE", portal.ca_path)
    assert _profile_ok(B24Hook.from_webhook_url(portal.v2_url))


def test_without_env_the_emulator_certificate_is_refused(portal: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("B24HOOK_CA_BUNDLE", raising=False)
    hook = B24Hook.from_webhook_url(portal.v2_url, restriction_params={"max_retries": 0})
    with hook, pytest.raises((AjaxError, SdkError)):
        hook.actions.v2.call.make(method="profile")


def test_an_other_ca_in_env_is_refused(portal: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("B24HOOK_CA_BUNDLE", str(other))
    hook = B24Hook.from_webhook_url(portal.v2_url, restriction_params={"max_retries": 0})
    with hook, pytest.raises((AjaxError, SdkError)):
        hook.actions.v2.call.make(method="profile")


def test_explicit_verify_wins_over_env(portal: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("B24HOOK_CA_BUNDLE", str(other))
    assert _profile_ok(B24Hook.from_webhook_url(portal.v2_url, verify=portal.ca_path))
    assert _profile_ok(B24Hook(portal.origin, portal.user_id, portal.secret, verify=False))


def test_env_naming_nothing_is_a_value_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    monkeypatch.setenv("B24HOOK_CA_BUNDLE", missing)
    with pytest.raises(ValueError, match="B24HOOK_CA_BUNDLE") as info:
        B24Hook.from_webhook_url("https://example.bitrix24.com/rest/1/xxxxxxxx/")
    assert "xxxxxxxx" not in str(info.value)
    assert missing in str(info.value)


@pytest.mark.parametrize("value", ["", None])
def test_unset_or_empty_env_means_system_cas(value: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv("B24HOOK_CA_BUNDLE", raising=False)
    else:
        monkeypatch.setenv("B24HOOK_CA_BUNDLE", value)
    with B24Hook.from_webhook_url("https://example.bitrix24.com/rest/1/xxxxxxxx/") as hook:
        for version in ("v2", "v3"):
            assert hook.get_http_client(version)._transport.verify is True


def test_env_bundle_reaches_both_transports(portal: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("B24HOOK_CA_BUNDLE", portal.ca_path)
    with B24Hook(portal.origin, portal.user_id, portal.secret) as hook:
        for version in ("v2", "v3"):
            assert hook.get_http_client(version)._transport.verify == portal.ca_path
