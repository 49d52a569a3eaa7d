"""Ctrl-C stops a call promptly: while it sleeps on the limiter, and while it
waits for a server that never answers (the GIL is released in both)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

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
