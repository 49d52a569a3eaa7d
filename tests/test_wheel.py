"""The manylinux wheel carries its C libraries (issue 13, item 1).

Builds the wheel as `make wheel` does (from a clean copy of the tracked files:
sdist, wheel from it, `auditwheel repair`) -- or takes a prebuilt one from
$B24HOOK_WHEEL --, installs it into a fresh virtual environment with no
compiler or source tree involved, checks that the extension resolves libcurl,
libcjson and libhiredis from the wheel's own b24hook.libs/ folder, and makes a real
HTTPS call to the emulator running in this process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.test_packaging import _clean_checkout

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[1]


def _build_wheel(tmp: Path) -> Path:
    prebuilt = os.environ.get("B24HOOK_WHEEL")
    if prebuilt:
        return Path(prebuilt)
    src = tmp / "src"
    _clean_checkout(src)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "B24HOOK_WERROR")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    subprocess.run([sys.executable, "-P", "-m", "build", "--outdir", str(tmp / "raw"), str(src)],
                   check=True, capture_output=True, env=env, timeout=180)
    (raw,) = (tmp / "raw").glob("*.whl")
    subprocess.run([sys.executable, "-P", "-m", "auditwheel", "repair", "-w", str(tmp / "dist"),
                    str(raw)], check=True, capture_output=True, env=env, timeout=120)
    (wheel,) = (tmp / "dist").glob("*.whl")
    return wheel


def test_wheel_is_manylinux_and_self_contained(tmp_path: Path, portal: Any) -> None:
    wheel = _build_wheel(tmp_path)
    assert "-manylinux_" in wheel.name and wheel.name.endswith("_x86_64.whl"), wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    bundled = [n for n in names if n.startswith("b24hook.libs/")]
    assert any("libcurl" in n for n in bundled), bundled
    assert any("libcjson" in n for n in bundled), bundled
    assert any("libhiredis" in n for n in bundled), bundled
    assert "b24hook/py.typed" in names and "b24hook/_core.pyi" in names

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LD_LIBRARY_PATH")}
    # its pure-Python dependencies (click; typing_extensions below 3.13) come from
    # the configured index, as for any `pip install`; the C libraries must not
    subprocess.run([str(py), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", str(wheel)],
                   check=True, capture_output=True, env=env, timeout=120)

    site = subprocess.run(
        [str(py), "-P", "-c", "import b24hook._core as c; print(c.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert site.startswith(str(env_dir)), site
    libs_dir = str(Path(site).parent.parent / "b24hook.libs")
    ldd = subprocess.run(["ldd", site], capture_output=True, text=True, check=True).stdout
    resolved = {line.split("=>")[0].strip(): line.split("=>")[1].split("(")[0].strip()
                for line in ldd.splitlines() if "=>" in line}
    for lib in ("libcurl", "libcjson", "libhiredis"):
        hits = {k: v for k, v in resolved.items() if k.startswith(lib)}
        assert hits, ldd
        for path in hits.values():
            real = os.path.realpath(path)
            assert real.startswith(os.path.realpath(libs_dir) + os.sep), \
                f"{lib} resolves outside the wheel: {real}"

    script = (
        "import json, sys, b24hook\n"
        "from b24hook import B24Hook, _core\n"
        "with B24Hook.from_webhook_url(sys.argv[1], verify=sys.argv[2]) as b24:\n"
        "    r = b24.actions.v2.call.make(method='profile')\n"
        "    print(json.dumps({'ok': r.is_success, 'id': r.get_data()['result']['ID'],\n"
        "                      'version': b24hook.__version__, 'core': _core.__version__,\n"
        "                      'file': b24hook.__file__}))\n"
    )
    run = subprocess.run([str(py), "-P", "-c", script, portal.v2_url, portal.ca_path],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr.replace(portal.secret, "***")
    out = json.loads(run.stdout.strip().splitlines()[-1])
    import b24hook

    assert out["ok"] is True and out["id"] == str(portal.user_id)
    assert out["version"] == out["core"] == b24hook.__version__
    assert out["file"].startswith(str(env_dir))

    # the console script: installed, and working with the wheel's declared dependencies only
    cli = subprocess.run([str(env_dir / "bin" / "b24hook"), "call", "profile"], cwd=tmp_path,
                         env={**env, "B24_WEBHOOK_URL": portal.v2_url + "/",
                              "B24HOOK_CA_BUNDLE": portal.ca_path},
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr.replace(portal.secret, "***")
    assert json.loads(cli.stdout)["ID"] == str(portal.user_id)
    assert portal.secret not in cli.stdout + cli.stderr
