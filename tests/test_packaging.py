"""`pip install .` into a fresh virtual environment builds and works.

The tracked files are copied to a temporary folder (a clean checkout: no
in-place build, no .venv), installed with plain `pip install .` into a new
venv, and the installed package makes a real HTTPS call to the emulator
portal running in this process.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _clean_checkout(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if not src.is_file():
            continue  # deleted in the work tree but not yet committed
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def test_pip_install_into_fresh_venv(tmp_path: Path, portal: Any) -> None:
    src = tmp_path / "src"
    _clean_checkout(src)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "B24HOOK_WERROR")}
    proc = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "."],
        cwd=src, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    script = (
        "import json, sys, b24hook\n"
        "from b24hook import B24Hook\n"
        "assert 'site-packages' in b24hook.__file__, b24hook.__file__\n"
        "with B24Hook.from_webhook_url(sys.argv[1], verify=sys.argv[2]) as b24:\n"
        "    r = b24.actions.v2.call.make(method='profile')\n"
        "    print(json.dumps({'ok': r.is_success, 'id': r.get_data()['result']['ID'],\n"
        "                      'version': b24hook.__version__}))\n"
    )
    run = subprocess.run(
        [str(py), "-c", script, portal.v2_url, portal.ca_path],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr.replace(portal.secret, "***")
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["ok"] is True
    assert out["id"] == str(portal.user_id)
    import b24hook

    assert out["version"] == b24hook.__version__
    # The typing files ship with the package.
    site = subprocess.run(
        [str(py), "-c", "import b24hook, os; print(os.path.dirname(b24hook.__file__))"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert os.path.exists(os.path.join(site, "py.typed"))
    assert os.path.exists(os.path.join(site, "_core.pyi"))


def test_build_without_libraries_names_the_fix(tmp_path: Path) -> None:
    """With pkg-config unable to find libcurl/libcjson, setup.py stops with the apt-get fix."""
    src = tmp_path / "src"
    _clean_checkout(src)
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = str(tmp_path / "empty")
    env["PKG_CONFIG_LIBDIR"] = str(tmp_path / "empty")
    proc = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=src, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "apt-get install -y libcurl4-openssl-dev libcjson-dev" in proc.stderr
