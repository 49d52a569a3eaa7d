"""Set-up of the benchmark: the cache of contestants, nginx, the C floor, the machine.

Everything the bench compares is installed under ``<repo>/.cache/bench/``
(idempotent; a stamp file per component):

* ``py/``   pip ``--target`` folder: b24pysdk, fast_bitrix24, httpx, requests,
  orjson, matplotlib (put on ``PYTHONPATH`` of the contestant processes, and on
  ``sys.path`` of the bench itself for orjson/matplotlib);
* ``js/``   npm prefix with ``@bitrix24/b24jssdk@2.1.0``;
* ``floor`` the C floor (``bench/floor/floor.c``) built with ``gcc -O2``;
* nginx from Debian (``apt-get install nginx-light`` when ``nginx`` is missing);
* valgrind from Debian for the instruction counts (``apt-get install valgrind``
  when missing).
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("B24HOOK_BENCH_CACHE", REPO / ".cache" / "bench"))
PY_TARGET = CACHE / "py"
JS_PREFIX = CACHE / "js"
FLOOR_BIN = CACHE / "floor"
FLOOR_SRC = REPO / "bench" / "floor" / "floor.c"
JS_RUNNER = REPO / "bench" / "js" / "runner.mjs"

JS_SDK = "@bitrix24/b24jssdk"
JS_SDK_VERSION = "2.1.0"
PY_PACKAGES = ["b24pysdk", "fast_bitrix24", "httpx", "requests", "orjson", "matplotlib"]


def log(msg: str) -> None:
    print(f"[bench {_dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


@contextmanager
def _lock(name: str) -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc


def local_env(**extra: str) -> dict[str, str]:
    """Environment of contestant processes: no proxy for 127.0.0.1, the cache on PYTHONPATH."""
    env = dict(os.environ)
    for key in ("NO_PROXY", "no_proxy"):
        parts = [p for p in env.get(key, "").split(",") if p]
        env[key] = ",".join(parts + ["127.0.0.1", "localhost"])
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(key, None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(PY_TARGET)])
    env["B24_PEERS_JS"] = str(JS_PREFIX)
    env.update(extra)
    return env


def setup_python() -> None:
    stamp = PY_TARGET / ".b24hook-bench-installed"
    want = " ".join(PY_PACKAGES)
    with _lock("py"):
        if stamp.is_file() and stamp.read_text() == want:
            return
        log(f"pip install --target {PY_TARGET} {want}")
        _run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--upgrade",
              "--target", str(PY_TARGET), *PY_PACKAGES], timeout=1200)
        stamp.write_text(want)


def setup_js() -> str | None:
    """Install the JS SDK; returns None when Node/npm are missing (the JS contestant is skipped)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return "node/npm not on PATH (apt-get install nodejs npm)"
    pkg = JS_PREFIX / "node_modules" / JS_SDK / "package.json"
    stamp = JS_PREFIX / ".b24hook-bench-installed"
    with _lock("js"):
        if stamp.is_file() and pkg.is_file() and json.loads(pkg.read_text()).get("version") == JS_SDK_VERSION:
            return None
        JS_PREFIX.mkdir(parents=True, exist_ok=True)
        (JS_PREFIX / "package.json").write_text(json.dumps(
            {"name": "b24hook-bench-peers", "private": True, "dependencies": {JS_SDK: JS_SDK_VERSION}}, indent=2) + "\n")
        log(f"npm install {JS_SDK}@{JS_SDK_VERSION} into {JS_PREFIX}")
        _run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(JS_PREFIX)], cwd=JS_PREFIX,
             env=local_env(), timeout=900)
        stamp.write_text(f"{JS_SDK}@{JS_SDK_VERSION}\n")
    return None


def _sudo() -> list[str]:
    return [] if os.geteuid() == 0 else ["sudo"]


def setup_nginx() -> str:
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if nginx:
        return nginx
    with _lock("apt"):
        log("apt-get install nginx-light (nginx is missing)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        _run(_sudo() + ["apt-get", "update", "-qq"], env=env, timeout=900)
        try:
            _run(_sudo() + ["apt-get", "install", "-y", "-qq", "nginx-light"], env=env, timeout=900)
        except RuntimeError:
            _run(_sudo() + ["apt-get", "install", "-y", "-qq", "nginx"], env=env, timeout=900)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        raise RuntimeError("nginx is still missing after apt-get install")
    return nginx


def setup_valgrind() -> str | None:
    """valgrind for the instruction counts (workload 1d); ``apt-get install
    valgrind`` when it is missing. Returns why it is unavailable, or None."""
    if shutil.which("valgrind"):
        return None
    with _lock("apt"):
        log("apt-get install valgrind (valgrind is missing)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            _run(_sudo() + ["apt-get", "update", "-qq"], env=env, timeout=900)
            _run(_sudo() + ["apt-get", "install", "-y", "-qq", "valgrind"], env=env, timeout=900)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            return f"valgrind is missing and apt-get failed: {str(exc)[:200]}"
    return None if shutil.which("valgrind") else "valgrind is still missing after apt-get install"


def build_floor() -> Path:
    with _lock("floor"):
        if FLOOR_BIN.is_file() and FLOOR_BIN.stat().st_mtime >= FLOOR_SRC.stat().st_mtime:
            return FLOOR_BIN
        flags = _run(["pkg-config", "--cflags", "--libs", "libcurl", "libcjson"]).stdout.split()
        log(f"gcc -O2 {FLOOR_SRC.relative_to(REPO)}")
        _run(["gcc", "-O2", "-Wall", "-o", str(FLOOR_BIN), str(FLOOR_SRC), *flags, "-lpthread"])
    return FLOOR_BIN


def setup_all() -> dict[str, Any]:
    """Idempotent set-up; returns what is unavailable (name -> reason)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    missing: dict[str, str] = {}
    setup_python()
    if str(PY_TARGET) not in sys.path:
        sys.path.insert(0, str(PY_TARGET))
    js = setup_js()
    if js:
        missing["js"] = js
    build_floor()
    setup_nginx()
    vg = setup_valgrind()
    if vg:
        missing["instr"] = vg
    return missing


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, str]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    from b24hook import _core, __version__

    def out(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip() or "?"
        except (OSError, subprocess.SubprocessError):
            return "missing"

    nginx_v = "missing"
    ng = shutil.which("nginx") or "/usr/sbin/nginx"
    if os.path.exists(ng):
        p = subprocess.run([ng, "-v"], capture_output=True, text=True)
        nginx_v = (p.stderr or p.stdout).strip().split("/")[-1]
    pkgs = {}
    for name in ("b24pysdk", "fast_bitrix24", "httpx", "requests", "orjson"):
        d = sorted(PY_TARGET.glob(f"{name}-*.dist-info"))
        pkgs[name] = d[-1].name[len(name) + 1:-len(".dist-info")] if d else "missing"
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "kernel": platform.release(),
        "os": out(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "python": platform.python_version(),
        "node": out(["node", "--version"]),
        "libcurl": _core.CURL_VERSION,
        "cjson": _core.CJSON_VERSION,
        "gcc": out(["gcc", "-dumpfullversion"]),
        "nginx": nginx_v,
        "b24hook": __version__,
        "b24hook_commit": out(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "js_sdk": JS_SDK_VERSION,
        **pkgs,
    }
