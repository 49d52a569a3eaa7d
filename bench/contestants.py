"""Who runs, and how one run of one contestant is launched (always a fresh process)."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .env import FLOOR_BIN, JS_RUNNER, REPO, local_env


@dataclass(frozen=True)
class Contestant:
    key: str            # stable id used in results
    label: str          # shown in the tables
    kind: str           # "py" | "js" | "floor"
    client: str = ""    # py_runner client / js mode


PERCALL = [
    Contestant("floor", "C floor (libcurl + cJSON)", "floor"),
    Contestant("b24hook", "b24hook `call.make`", "py", "b24hook"),
    Contestant("b24hook-core", "b24hook `_core.Transport.perform` (no Python layer)", "py", "b24hook-core"),
    Contestant("stdlib", "stdlib `http.client` keep-alive loop", "py", "stdlib"),
    Contestant("requests", "requests.Session", "py", "requests"),
    Contestant("httpx", "httpx.Client", "py", "httpx"),
    Contestant("js", "JS SDK 2.1.0 `call.make` (Node)", "js"),
    Contestant("b24pysdk", "b24pysdk `server.time()`", "py", "b24pysdk"),
    Contestant("fast_bitrix24", "fast_bitrix24 `call(raw=True)`", "py", "fast_bitrix24"),
]
THREADED = {"floor", "b24hook", "b24hook-core", "requests", "httpx", "js"}
# workload 1c: server.time calls with ASYNC_CONCURRENCY in flight on one client
# (the key "b24hook" is the base of the report's ratios)
ASYNC_CONCURRENCY = 100
ASYNC = [
    Contestant("b24hook", "b24hook `AsyncB24Hook` `call.make`", "py", "b24hook-async"),
    Contestant("fast_bitrix24", "fast_bitrix24 `BitrixAsync.call(raw=True)`", "py", "fast_bitrix24-async"),
    Contestant("js", "JS SDK 2.1.0 `call.make`, `Promise.all` (Node)", "js"),
]
# who calls the 50-row crm.item.list page (workload 1b)
LIST = {"floor", "b24hook", "b24hook-core", "stdlib", "js"}


def fast_export_entry() -> tuple[str, dict[str, Any]] | None:
    """Where b24hook's fast export lives, once the lists work has landed it
    (attribute path from the B24Hook object, extra keyword arguments)."""
    try:
        from b24hook import B24Hook
    except ImportError:
        return None
    candidates = [
        ("actions.v2.fetch_list_fast.make", {"id_key": "id", "custom_key_for_result": "items"}),
        ("actions.v2.fast_export.make", {"id_key": "id", "custom_key_for_result": "items"}),
        ("actions.v2.export.make", {"id_key": "id", "custom_key_for_result": "items"}),
        ("actions.v2.export_list.make", {"id_key": "id", "custom_key_for_result": "items"}),
    ]
    import inspect

    b24 = B24Hook.from_webhook_url("https://example.invalid/rest/1/x")
    try:
        fl = getattr(b24.actions.v2, "fetch_list", None)
        if fl is not None and "fast" in inspect.signature(fl.make).parameters:
            # docs/export.md: fetch_list.make(..., fast=True, shards=4)
            return "actions.v2.fetch_list.make", {"id_key": "id", "custom_key_for_result": "items", "fast": True}
        for path, kw in candidates:
            obj: Any = b24
            try:
                for part in path.split("."):
                    obj = getattr(obj, part)
            except AttributeError:
                continue
            return path, kw
    finally:
        b24.destroy()
    return None


def has_action(name: str) -> bool:
    try:
        from b24hook import B24Hook
    except ImportError:
        return False
    b24 = B24Hook.from_webhook_url("https://example.invalid/rest/1/x")
    try:
        return hasattr(b24.actions.v2, name)
    finally:
        b24.destroy()


def export_contestants() -> list[Contestant]:
    out = []
    if has_action("fetch_list"):
        out.append(Contestant("b24hook-fetch_list", "b24hook `fetch_list` (plain walk)", "py", "b24hook-fetch_list"))
    else:
        out.append(Contestant("b24hook-loop", "b24hook `call.make` keyset loop (fetch_list not landed)", "py",
                              "b24hook-loop"))
    if fast_export_entry():
        out.append(Contestant("b24hook-fast", "b24hook fast export (`fetch_list(fast=True)`)", "py", "b24hook-fast"))
    out += [
        Contestant("js-callList", "JS SDK `callList` (Node)", "js", "callList"),
        Contestant("b24pysdk", "b24pysdk `as_list_fast`", "py", "b24pysdk"),
        Contestant("fast_bitrix24", "fast_bitrix24 `get_all`", "py", "fast_bitrix24"),
    ]
    return out


def run(c: Contestant, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One run in a fresh process; returns the measurement or {"error": text}."""
    spec = dict(spec)
    env = local_env()
    if c.kind == "floor":
        if spec["task"] != "percall":
            return {"error": "the floor only runs workload 1"}
        cmd = [str(FLOOR_BIN), spec["url"] + "/" + spec.get("method", "server.time"), str(spec["n"]),
               str(spec.get("threads", 1)), spec["ca"], json.dumps(spec.get("params") or {}, separators=(",", ":"))]
    elif c.kind == "js":
        if c.client:
            spec["mode"] = c.client
        env["NODE_EXTRA_CA_CERTS"] = spec["ca"]
        cmd = ["node", str(JS_RUNNER), json.dumps(spec)]
    else:
        spec["client"] = c.client
        if c.client == "b24hook-fast":
            entry = fast_export_entry()
            if entry is None:
                return {"error": "fast export not available"}
            spec["fast_path"], spec["fast_kwargs"] = entry
        cmd = [sys.executable, "-m", "bench.py_runner", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout:.0f} s", "timeout": True}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)[-400:]}
    return json.loads(lines[-1])


def floor_path() -> Path:
    return FLOOR_BIN
