"""Build of the C extension b24hook._core.

The core (csrc/core, plain C, no Python.h) and the CPython glue (csrc/ext)
are linked against the system libcurl, cJSON and hiredis, found with pkg-config.

Environment switches:
  B24HOOK_WERROR=1   add -Werror (development and CI builds; users get none)
  B24HOOK_DEBUG=1    -O0 -g3 -UNDEBUG
  B24HOOK_SANITIZE=1 build with -fsanitize=address,undefined (tests only)
"""
import glob
import os
import re
import shutil
import subprocess
import sys

from setuptools import Extension, setup

APT_FIX = "sudo apt-get install -y libcurl4-openssl-dev libcjson-dev libhiredis-dev pkg-config"


def _pkg_config(*args):
    exe = shutil.which("pkg-config")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, *args], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError:
        return None
    return out.stdout.split()


def _libraries():
    flags = {"include_dirs": [], "library_dirs": [], "libraries": [], "extra": []}
    missing = []
    for pkg in ("libcurl", "libcjson", "hiredis"):
        cflags = _pkg_config("--cflags", pkg)
        libs = _pkg_config("--libs", pkg)
        if cflags is None or libs is None:
            missing.append(pkg)
            continue
        for f in cflags:
            if f.startswith("-I"):
                flags["include_dirs"].append(f[2:])
            else:
                flags["extra"].append(f)
        for f in libs:
            if f.startswith("-L"):
                flags["library_dirs"].append(f[2:])
            elif f.startswith("-l"):
                flags["libraries"].append(f[2:])
    if missing:
        sys.stderr.write(
            "\nb24hook: cannot find %s with pkg-config.\n"
            "Install the development packages and build again:\n\n    %s\n\n"
            % (" and ".join(missing), APT_FIX)
        )
        raise SystemExit(1)
    return flags


def _version():
    """The package version, read from b24hook/_version.py (its one literal)."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "b24hook", "_version.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__ = "([^"\\]+)"$', f.read(), re.M)
    if m is None:
        raise SystemExit("b24hook/_version.py: no __version__ = \"...\" line")
    return m.group(1)


def _extension():
    lib = _libraries()
    cflags = [
        "-std=c11",
        "-D_GNU_SOURCE",
        "-Wall",
        "-Wextra",
        "-Wshadow",
        "-Wstrict-prototypes",
        "-Wmissing-prototypes",
        "-Wformat=2",
        "-fvisibility=hidden",
    ] + lib["extra"]
    ldflags = []
    if os.environ.get("B24HOOK_WERROR") == "1":
        cflags.append("-Werror")
    if os.environ.get("B24HOOK_DEBUG") == "1":
        cflags += ["-O0", "-g3", "-UNDEBUG"]
    if os.environ.get("B24HOOK_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
               "-fno-omit-frame-pointer", "-g"]
        cflags += san
        ldflags += san
    sources = sorted(glob.glob("csrc/core/*.c")) + sorted(glob.glob("csrc/ext/*.c"))
    depends = sorted(glob.glob("csrc/core/*.h")) + sorted(glob.glob("csrc/ext/*.h"))
    return Extension(
        "b24hook._core",
        sources=sources,
        depends=depends,
        include_dirs=["csrc/core", "csrc/ext"] + lib["include_dirs"],
        library_dirs=lib["library_dirs"],
        libraries=lib["libraries"],
        define_macros=[("B24_CORE_VERSION", '"%s"' % _version())],
        extra_compile_args=cflags,
        extra_link_args=ldflags,
    )


setup(ext_modules=[_extension()])
