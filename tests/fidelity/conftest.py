"""Harness of the fidelity tests: official peer clients against the emulator.

* ``js_sdk`` (session): installs ``@bitrix24/b24jssdk@2.1.0`` with npm into
  ``<repo>/.cache/peers/js`` (reused when that exact version is already there;
  a file lock keeps two concurrent runs from racing) and checks that Node can
  import it. No node/npm is a hard failure, never a skip: CI installs them.
* ``run_js`` : runs a list of REST calls through ``B24Hook`` of the JS SDK
  (``tests/fidelity/js/driver.mjs``), one Node process per list.
* ``run_py`` : the same calls through ``b24hook.B24Hook``, normalised to the
  driver's output shape so both can be compared with ``==``.
* ``pysdk``  : a webhook token of the official Python SDK ``b24pysdk``.
* ``portal`` (module): an emulator portal (``b24hook.emulator``).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
JS_DRIVER = Path(__file__).resolve().parent / "js" / "driver.mjs"
JS_SDK_PACKAGE = "@bitrix24/b24jssdk"
JS_SDK_VERSION = "2.1.0"
PEERS_JS = Path(os.environ.get("B24HOOK_PEERS_JS", REPO / ".cache" / "peers" / "js"))
NPM_INSTALL_TIMEOUT = 600
NODE_CALL_TIMEOUT = 60

APT_HINT = "sudo apt-get update && sudo apt-get install -y nodejs npm"


# --------------------------------------------------------------------------- JS SDK


def _installed_version(prefix: Path) -> str | None:
    marker = prefix / ".b24hook-installed"
    pkg = prefix / "node_modules" / JS_SDK_PACKAGE / "package.json"
    if not marker.is_file() or not pkg.is_file():
        return None
    try:
        return json.loads(pkg.read_text("utf-8")).get("version")
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _node_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # The emulator lives on 127.0.0.1: never send it through a proxy.
    for key in ("NO_PROXY", "no_proxy"):
        parts = [p for p in env.get(key, "").split(",") if p]
        env[key] = ",".join(parts + ["127.0.0.1", "localhost"])
    env.update(extra)
    return env


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH; the fidelity tests drive the official JS SDK with Node.js. "
            f"Install it with: {APT_HINT}",
            pytrace=False,
        )
    return path


def _install_js_sdk(prefix: Path, npm: str) -> None:
    node_modules = prefix / "node_modules"
    if node_modules.exists():
        shutil.rmtree(node_modules)
    (prefix / ".b24hook-installed").unlink(missing_ok=True)
    (prefix / "package-lock.json").unlink(missing_ok=True)
    (prefix / "package.json").write_text(
        json.dumps(
            {
                "name": "b24hook-fidelity-peers",
                "private": True,
                "description": "cache of the peer clients driven by tests/fidelity (managed by the tests)",
                "dependencies": {JS_SDK_PACKAGE: JS_SDK_VERSION},
            },
            indent=2,
        )
        + "\n",
        "utf-8",
    )
    cmd = [npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(prefix)]
    try:
        proc = subprocess.run(
            cmd, cwd=prefix, env=_node_env(), capture_output=True, text=True,
            timeout=NPM_INSTALL_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(cmd)}` did not finish in {NPM_INSTALL_TIMEOUT} s", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    (prefix / ".b24hook-installed").write_text(f"{JS_SDK_PACKAGE}@{JS_SDK_VERSION}\n", "utf-8")


@pytest.fixture(scope="session")
def js_sdk() -> dict[str, Any]:
    """Node + the pinned JS SDK in the test-managed cache; returns how to run them."""
    node = _require_tool("node")
    npm = _require_tool("npm")
    out = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    try:
        major = int(out.lstrip("v").split(".")[0])
    except ValueError:
        major = 0
    if major < 20:
        pytest.fail(
            f"{JS_SDK_PACKAGE}@{JS_SDK_VERSION} needs Node.js >= 20 (found {out or 'unknown'}); "
            f"install a newer nodejs (e.g. from NodeSource) — Debian/Ubuntu: {APT_HINT}",
            pytrace=False,
        )
    prefix = PEERS_JS
    prefix.mkdir(parents=True, exist_ok=True)
    with _file_lock(prefix.parent / "js.lock"):
        if _installed_version(prefix) != JS_SDK_VERSION:
            _install_js_sdk(prefix, npm)
        found = _installed_version(prefix)
        if found != JS_SDK_VERSION:
            pytest.fail(f"npm installed {JS_SDK_PACKAGE}@{found}, expected {JS_SDK_VERSION}", pytrace=False)
    info = {"node": node, "prefix": prefix, "version": JS_SDK_VERSION}
    # Smoke: the driver can import the SDK (no operations).
    _run_driver(info, {"ops": [], "expectVersion": JS_SDK_VERSION}, ca_path=None)
    return info


def _run_driver(info: dict[str, Any], payload: dict[str, Any], ca_path: str | None) -> list[dict[str, Any]]:
    extra = {"B24_PEERS_JS": str(info["prefix"])}
    if ca_path:
        extra["NODE_EXTRA_CA_CERTS"] = str(ca_path)
    proc = subprocess.run(
        [info["node"], str(JS_DRIVER)], input=json.dumps(payload), env=_node_env(**extra),
        capture_output=True, text=True, timeout=NODE_CALL_TIMEOUT,
    )
    if proc.returncode != 0:
        pytest.fail(f"JS driver failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}", pytrace=False)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if len(lines) != len(payload.get("ops", [])):
        pytest.fail(f"JS driver printed {len(lines)} lines for {len(payload['ops'])} ops:\n"
                    f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}", pytrace=False)
    return lines


# --------------------------------------------------------------------------- portal


@pytest.fixture(scope="module")
def portal() -> Iterator[Any]:
    from b24hook.emulator import EmulatorPortal

    p = EmulatorPortal(db=":memory:", seed_demo=0).start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def run_js(js_sdk: dict[str, Any], portal: Any) -> Callable[..., list[dict[str, Any]]]:
    """run_js(ops, url=None, restriction_params=None) -> one dict per op (driver shape)."""

    def run(ops: list[dict[str, Any]], url: str | None = None,
            restriction_params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        payload: dict[str, Any] = {"url": url or portal.v2_url, "ops": ops}
        if restriction_params is not None:
            payload["restrictionParams"] = restriction_params
        return _run_driver(js_sdk, payload, ca_path=portal.ca_path)

    return run


# --------------------------------------------------------------------------- b24hook


def outcome_of(call: Callable[[], Any], paging: bool = False) -> dict[str, Any]:
    """Run one b24hook call and describe it in the JS driver's shape."""
    from b24hook import AjaxError

    try:
        res = call()
    except AjaxError as err:
        # ``name`` as in to_json()/JS err.name; the class itself must be AjaxError (or a subclass).
        return {"thrown": True, "name": getattr(err, "name", type(err).__name__), "code": err.code,
                "status": err.status, "message": err.message}
    errors = list(res.get_errors())
    out = {
        "ok": res.is_success,
        "data": res.get_data(),
        "errors": res.get_error_messages(),
        "codes": [getattr(e, "code", None) for e in errors],
        "status": res.get_status(),
    }
    if paging:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            out["total"] = res.get_total()
            out["more"] = res.is_more()
    return out


@pytest.fixture
def run_py(portal: Any) -> Iterator[Callable[..., list[dict[str, Any]]]]:
    """run_py(ops, url=None, restriction_params=None): the same ops through b24hook."""
    from b24hook import B24Hook

    clients: dict[str, Any] = {}

    def client(url: str, restriction_params: dict[str, Any] | None) -> Any:
        key = json.dumps([url, restriction_params], sort_keys=True)
        if key not in clients:
            clients[key] = B24Hook.from_webhook_url(
                url, restriction_params=restriction_params, verify=portal.ca_path)
        return clients[key]

    def run(ops: list[dict[str, Any]], url: str | None = None,
            restriction_params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        out = []
        for op in ops:
            b24 = client(op.get("url") or url or portal.v2_url,
                         op.get("py_restriction_params", restriction_params))
            action = getattr(b24.actions, op.get("api", "v2")).call
            out.append(outcome_of(lambda: action.make(method=op["method"], params=op.get("params") or {}),
                                  paging=bool(op.get("paging"))))
        return out

    yield run
    for b24 in clients.values():
        with contextlib.suppress(Exception):
            b24.destroy()


# --------------------------------------------------------------------------- b24pysdk


@pytest.fixture
def pysdk(portal: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A ``b24pysdk.BitrixWebhook`` for the portal; requests trusts the emulator CA."""
    from urllib.parse import urlsplit

    from b24pysdk import BitrixWebhook

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(portal.ca_path))
    for key in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(key, ",".join(filter(None, [os.environ.get(key, ""), "127.0.0.1", "localhost"])))
    parts = urlsplit(portal.v2_url)
    _, uid, secret = parts.path.strip("/").split("/")
    return BitrixWebhook(domain=parts.netloc, webhook_token=f"{uid}/{secret}")



# --------------------------------------------------------------------------- fixtures data


def rest_call(portal: Any, method: str, params: dict[str, Any] | None = None, *, v3: bool = False) -> Any:
    """A plain urllib POST to the portal (independent of every client); returns the JSON body."""
    import ssl
    import urllib.request

    base = portal.v3_url if v3 else portal.v2_url
    req = urllib.request.Request(
        f"{base}/{method}", data=json.dumps(params or {}).encode(), method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    ctx = ssl.create_default_context(cafile=str(portal.ca_path))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))
    with opener.open(req, timeout=30) as resp:
        return json.loads(resp.read().decode("utf-8"))


@pytest.fixture(scope="module")
def records(portal: Any) -> dict[str, Any]:
    """Records created once per module with plain urllib: two deals (crm.item.add),
    one legacy deal (crm.deal.add), one v3 task (tasks.task.add), 55 contacts."""
    deal_a = rest_call(portal, "crm.item.add", {
        "entityTypeId": 2, "fields": {"title": "Fidelity deal A", "opportunity": 1250.5, "currencyId": "USD"}})
    deal_b = rest_call(portal, "crm.item.add", {
        "entityTypeId": 2, "fields": {"title": "Fidelity deal B \"quoted\" <tag> & é", "opportunity": 7}})
    legacy = rest_call(portal, "crm.deal.add", {"fields": {"TITLE": "Fidelity legacy deal", "OPPORTUNITY": 99.9}})
    task = rest_call(portal, "tasks.task.add", {"fields": {"title": "Fidelity task"}}, v3=True)
    # Enough contacts for two v2 pages (50 + 5).
    contact_ids = [
        rest_call(portal, "crm.item.add", {"entityTypeId": 3, "fields": {"name": f"Page{i:02d}", "lastName": "Fidelity"}})
        ["result"]["item"]["id"]
        for i in range(55)
    ]
    return {
        "contact_ids": contact_ids,
        "deal_ids": [deal_a["result"]["item"]["id"], deal_b["result"]["item"]["id"]],
        "legacy_deal_id": int(legacy["result"]),
        "task_id": task["result"]["item"]["id"],
    }
