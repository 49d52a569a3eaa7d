"""The demo that `make demo` runs keeps working (its output is what a newcomer sees)."""
from __future__ import annotations

import subprocess
import sys


def test_demo_runs_every_section() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "b24hook.demo", "--seed", "3000"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for heading in ("1. An emulator portal", "2. Calls", "3. Errors, handled",
                    "4. Health check and ping", "5. A list pull", "6. A batch",
                    "7. An export under the portal's real limits"):
        assert heading in out, heading
    assert "hard error raised      -> NOT_FOUND (HTTP 400)" in out
    assert "soft error returned    -> is_success=False" in out
    assert "health_check           -> True" in out
    assert "0 x QUERY_LIMIT_EXCEEDED" in out
    assert "***REDACTED***" in out
    # The secret is shown only as a short masked prefix.
    assert "…" in out.split("v2 webhook : ")[1].splitlines()[0]
