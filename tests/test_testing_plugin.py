"""The user-facing pytest plugin (b24hook.testing) works in a user's project."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def user_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A user's pytest run: this checkout's b24hook, the plugin loaded by -p."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("B24_WEBHOOK_URL", raising=False)
    return monkeypatch


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "b24hook.testing", "-p", "no:cacheprovider",
                                         *args, timeout=180)


def test_plugin_fixtures_in_a_user_project(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent('''
        def test_deal_roundtrip(b24_hook, b24_portal):
            res = b24_hook.actions.v2.call.make(
                method="crm.deal.add", params={"fields": {"TITLE": "From a test"}})
            assert res.is_success
            new_id = res.get_data()["result"]
            got = b24_hook.actions.v2.call.make(method="crm.deal.get", params={"id": new_id})
            assert got.get_data()["result"]["TITLE"] == "From a test"
            assert b24_portal.stats()["total"] >= 2
    '''))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "b24hook.testing", "-p", "no:cacheprovider",
         str(tmp_path / "test_user.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


USER_SUITE = '''
import time
import pytest

def _deal_count(hook):
    res = hook.actions.v2.call.make(method="crm.deal.list", params={"select": ["ID"]})
    return len(res.get_data()["result"])

def test_1_dirty(b24_hook, b24_portal):
    assert b24_portal.is_emulator
    b24_portal.seed(3)
    assert b24_hook.actions.v2.call.make(method="crm.deal.add", params={"fields": {"TITLE": "x"}}).is_success
    b24_portal.assert_called("crm.deal.add", times=1, status=200)
    b24_portal.inject("status", method="crm.deal.get", count=5, status=500)
    b24_portal.configure(rate_limit=(50, 2), overload=False)
    assert _deal_count(b24_hook) >= 1

def test_2_clean(b24_hook, b24_portal):
    # rows, faults, settings, counters and the request log are back to the start
    assert b24_portal.emulator.settings.rate_limit is None
    assert b24_portal.emulator.faults.pending() == []
    assert b24_portal.stats()["total"] == 0 and b24_portal.requests() == []
    assert _deal_count(b24_hook) == 0
    b24_portal.assert_not_called("crm.deal.add")
    assert [r["method"] for r in b24_portal.requests()] == ["crm.deal.list"]
    # ids are not reused after the reset either way: the sequence table was restored too
    res = b24_hook.actions.v2.call.make(method="crm.deal.add", params={"fields": {"TITLE": "y"}})
    assert res.is_success

def test_3_fault_helper(b24_hook, b24_portal):
    b24_portal.inject("status", method="crm.deal.get", count=1, status=400)
    with pytest.raises(Exception):
        b24_hook.actions.v2.call.make(method="crm.deal.get", params={"id": 1})
    assert b24_portal.requests("crm.deal.get")[0]["status"] == 400

def test_4_seventy_calls_are_not_paced(b24_hook):
    start = time.monotonic()
    for i in range(70):
        assert b24_hook.actions.v2.call.make(method="server.time").is_success
    assert time.monotonic() - start < 5

def test_5_limited_portal_gets_its_plan(b24_portal):
    from b24hook.testing import restriction_params_for
    b24_portal.configure(rate_limit=(250, 5), operating_limit=480)
    p = restriction_params_for(b24_portal.emulator)
    assert p["rate_limit"]["burst_limit"] == 250 and p["rate_limit"]["drain_rate"] == 5
    assert p["operating_limit"]["limit_ms"] == 480_000

@pytest.mark.b24_emulator_only
def test_6_emulator_only(b24_portal):
    assert b24_portal.is_emulator

@pytest.mark.b24_portal
def test_7_marked(b24_portal):
    print("MODE", "emulator" if b24_portal.is_emulator else "real")
    if not b24_portal.is_emulator:
        assert "fake-secret" not in repr(b24_portal)
        b24_portal.inject("html")   # emulator-only helper: skips on a real portal
        raise AssertionError("not reached")
'''


def test_isolation_helpers_and_limiter(pytester: pytest.Pytester, user_env: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_user=USER_SUITE)
    result = _run(pytester, "-s")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(["*MODE emulator*"])


def test_real_portal_option_switches_marked_tests_only(pytester: pytest.Pytester,
                                                       user_env: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_user=USER_SUITE)
    # a webhook URL that is never contacted: the only marked test skips on its
    # first emulator-only helper, before any request
    result = _run(pytester, "-s", "-rs", "--b24-webhook", "https://example.invalid/rest/1/fake-secret")
    result.assert_outcomes(passed=5, skipped=2)
    result.stdout.fnmatch_lines(["*MODE real*"])
    result.stdout.fnmatch_lines(["*SKIPPED*needs the emulator (running against a real portal)*"])
    assert "fake-secret" not in result.stdout.str()


def test_env_variable_selects_the_real_portal(pytester: pytest.Pytester,
                                              user_env: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_user=USER_SUITE)
    user_env.setenv("B24_WEBHOOK_URL", "https://example.invalid/rest/1/fake-secret")
    result = _run(pytester, "-s", "-k", "test_6 or test_7")
    result.assert_outcomes(skipped=2)
