#!/usr/bin/env bash
# Idempotent set-up for the two README commands: system packages (apt-get,
# only when missing), a virtual environment in .venv, the Python
# dependencies, and an in-place build of the C extension.
#   scripts/bootstrap.sh          runtime + emulator (for the demo)
#   scripts/bootstrap.sh test     also test dependencies and Node.js
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-demo}

need_pkgs=(gcc make pkg-config libcurl4-openssl-dev libcjson-dev libhiredis-dev)
# redis-server: the shared limiter's tests start their own (docs/workers.md)
[ "$mode" = test ] && need_pkgs+=(valgrind clang nodejs npm redis-server)

PY=${PYTHON:-python3}
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need_pkgs+=(python3-venv)
fi
if ! "$PY" -c 'import sysconfig,os,sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"],"Python.h")) else 1)' >/dev/null 2>&1; then
  need_pkgs+=(python3-dev)
fi

missing=()
for p in "${need_pkgs[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    gcc) command -v gcc >/dev/null 2>&1 && continue ;;
    make) command -v make >/dev/null 2>&1 && continue ;;
    valgrind) command -v valgrind >/dev/null 2>&1 && continue ;;
    clang) command -v clang >/dev/null 2>&1 && continue ;;
    redis-server) command -v redis-server >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing system packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python

extras=emulator,progress
[ "$mode" = test ] && extras=emulator,progress,test
stamp=".venv/.b24hook-deps-$(cat pyproject.toml setup.py | sha1sum | cut -c1-12)-$extras"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing Python dependencies ($extras)"
  "$VPY" -m pip install -q --upgrade pip setuptools wheel
  B24HOOK_WERROR=${B24HOOK_WERROR:-1} "$VPY" -m pip install -q -e ".[$extras]"
  touch "$stamp"
fi

# Rebuild the extension in place when a C file changed (setuptools compares
# timestamps of sources and headers with the built module).
B24HOOK_WERROR=${B24HOOK_WERROR:-1} "$VPY" setup.py -q build_ext --inplace >/dev/null
