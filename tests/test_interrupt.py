"""Ctrl-C stops a call promptly: while it sleeps on the limiter, and while it
waits for a server that never answers (the GIL is released in both)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

_SCRIPT = textwrap.dedent('''
    import signal, socket, sys, time
    # A shell that starts a job in the background without job control (CI
    # runners, nohup) leaves SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler; a terminal user always has it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from b24hook import B24Hook, AjaxError
    mode = sys.argv[1]
    if mode == "limiter":
        b24 = B24Hook("127.0.0.1:1", 1, "interrupt-secret",
                      restriction_params={"max_retries": 1,
                                          "rate_limit": {"burst_limit": 1, "drain_rate": 0.01}})
        try:
            b24.actions.v2.call.make("server.time")      # refused: takes the only token
        except AjaxError:
            pass
    else:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)                                     # accepts, never answers
        b24 = B24Hook(f"127.0.0.1:{srv.getsockname()[1]}", 1, "interrupt-secret", timeout=60,
                      restriction_params={"max_retries": 1})
    print("READY", flush=True)
    t0 = time.monotonic()
    try:
        b24.actions.v2.call.make("server.time")
        print("RETURNED", flush=True)
    except KeyboardInterrupt:
        print(f"INTERRUPTED {time.monotonic() - t0:.3f}", flush=True)
''')


@pytest.mark.parametrize("mode", ["limiter", "hanging_server"])
def test_sigint_stops_a_waiting_call(mode: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _SCRIPT, mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(0.7)                    # the call is now sleeping / waiting
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        stopped = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "INTERRUPTED" in out, (out, err)
    assert stopped < 0.5, stopped          # within a fraction of a second
    assert "interrupt-secret" not in out + err


def test_outcome_alive_at_shutdown_tears_down_cleanly() -> None:
    """An Outcome held by a cycle at exit used to print a SystemError from tp_clear."""
    code = textwrap.dedent('''
        from b24hook import _core
        o = _core.Outcome((0, 200, None, None, None, False, 1.0, None, {}))
        class C: pass
        c = C(); c.self = c; c.o = o
        t = _core.Transport("https://127.0.0.1:1/rest/1/x", "x", user_agent="u", sdk_type="t",
                            sdk_version="v")
        lim = _core.Limiter(None); c.t = t; c.lim = lim
    ''')
    proc = subprocess.run([sys.executable, "-X", "dev", "-c", code], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


_EXPORT_SCRIPT = textwrap.dedent('''
    import signal, sys, threading, time
    sys.path.insert(0, sys.argv[1])
    from _list_rows import bulk_items
    from b24hook import B24Hook
    from b24hook.emulator import EmulatorPortal

    got = {}
    def on_sigint(signum, frame):
        got["t"] = time.monotonic()
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, on_sigint)

    p = EmulatorPortal(db=":memory:").start()
    bulk_items(p, 1256, 20000)
    b24 = B24Hook.from_webhook_url(p.v2_url, verify=p.ca_path, timeout=60)
    it = b24.actions.v2.fetch_list.make("crm.item.list", {"entityTypeId": 1256, "select": ["id"]},
                                        id_key="id", custom_key_for_result="items", fast=True,
                                        shards=4)
    first = next(it)                      # the probe, answered at once
    # every later batch hangs 30 s on the server: the shard threads sit in their requests
    p.inject("hang", method="batch", delay=30, fraction=1.0)
    print("READY", len(first), flush=True)
    try:
        for chunk in it:
            pass
        print("RETURNED", flush=True)
    except KeyboardInterrupt:
        print(f"INTERRUPTED {time.monotonic() - got['t']:.3f}", flush=True)
    alive = [t.name for t in threading.enumerate() if t.name.startswith("b24hook-export")]
    print("SHARD_THREADS", len(alive), flush=True)
    p.clear_faults()
    # the client stays usable and closable
    print("AFTER", b24.actions.v2.call.make("server.time").is_success, flush=True)
    b24.close()
    p.close()
    print("CLOSED", flush=True)
''')


def test_sigint_stops_a_fast_export_promptly() -> None:
    """Ctrl-C during fetch_list(fast=True) reaches the caller within a fraction of a
    second: the shard threads' in-flight requests are cancelled, not waited for."""
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.Popen([sys.executable, "-c", _EXPORT_SCRIPT, tests_dir],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=os.getcwd())
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[:1] == ["READY"], (ready, proc.stderr.read() if proc.stderr else "")
        time.sleep(1.0)                    # the shards are now inside their hanging requests
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = dict(ln.split(" ", 1) for ln in out.splitlines() if " " in ln)
    assert "INTERRUPTED" in lines, (out, err)
    took = float(lines["INTERRUPTED"])
    print(f"KeyboardInterrupt reached the caller {took:.3f} s after SIGINT")
    assert took < 2.0, took                # measured ~0.05 s; 7+ s before the cancel token
    assert lines["SHARD_THREADS"] == "0"   # joined, not left running
    assert lines["AFTER"] == "True" and "CLOSED" in out, (out, err)
    assert proc.returncode == 0, err


def test_cancel_token_stops_the_call_of_its_thread_only() -> None:
    import socket
    import threading

    from b24hook import B24Hook, _core

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)                          # accepts, never answers
    try:
        b24 = B24Hook(f"127.0.0.1:{srv.getsockname()[1]}", 1, "interrupt-secret", timeout=3,
                      restriction_params={"max_retries": 1})
        token = _core.CancelToken()
        ends: dict[str, Any] = {}

        def worker(name: str, bind: bool) -> None:
            if bind:
                token.bind()
            try:
                b24.actions.v2.call.make("server.time")
                ends[name] = ("returned", time.monotonic())
            except BaseException as exc:  # noqa: BLE001
                ends[name] = (type(exc).__name__, time.monotonic())
            finally:
                token.unbind()

        bound = threading.Thread(target=worker, args=("bound", True))
        free = threading.Thread(target=worker, args=("free", False))
        bound.start()
        free.start()
        time.sleep(0.5)
        sent = time.monotonic()
        token.cancel()
        bound.join(5)
        assert token.cancelled
        assert ends["bound"][0] == "CancelledError"
        # libcurl calls the progress callback at least once a second on an idle
        # connection: the bound is that interval, with room for a loaded machine
        assert ends["bound"][1] - sent < 1.5, ends["bound"][1] - sent
        free.join(10)
        # the unbound thread ran to its own timeout (3 s) instead
        assert ends["free"][0] == "AjaxError" and ends["free"][1] - sent > 1.5
        b24.close()
    finally:
        srv.close()
