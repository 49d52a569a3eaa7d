"""The user-facing pytest plugin (b24hook.testing) works in a user's project."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


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
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
             "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
