"""Helpers of tests/test_redis_limiter.py: a redis-server the test starts on a
free 127.0.0.1 port (no persistence, its own temporary directory) and the
worker that stands for one process of one host (run in a process pool)."""
from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """``redis-server`` on 127.0.0.1:``port``; ``kill()`` (SIGKILL) and ``start()``
    again on the same port. Missing redis-server is an error, never a skip."""

    def __init__(self, workdir: Path) -> None:
        exe = shutil.which("redis-server")
        assert exe, "redis-server is not installed (scripts/bootstrap.sh test installs it)"
        self.exe = exe
        self.dir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                if self.command("PING") == "+PONG":
                    return self
            except OSError:
                pass
            assert self.proc.poll() is None, "redis-server exited at start"
            time.sleep(0.05)
        raise AssertionError("redis-server did not answer PING")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def command(self, *args: str) -> str:
        """One command in RESP, the first line of the answer (enough for PING,
        EXISTS, DBSIZE)."""
        out = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(out.encode())
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        return data.decode().split("\r\n", 1)[0]

    def keys(self) -> list[str]:
        """Every key name (KEYS *: a test database is small)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n")
            data = b""
            while True:
                lines = data.split(b"\r\n")
                if lines[0].startswith(b"*") and len(lines) > 2 * int(lines[0][1:]) + 1:
                    return [x.decode() for x in lines[2:2 * int(lines[0][1:]) + 1:2]]
                chunk = s.recv(65536)
                assert chunk, "redis closed the connection"
                data += chunk


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append((record.levelname, str(getattr(record, "b24_event", ""))))


def host_worker(url: str, ca: str, shared: str | None, calls: int, sync_dir: str,
                run_for: float = 0.0) -> dict[str, Any]:
    """One process of one host: build a client (shared or not), say ready, wait
    for the go, then make ``calls`` calls (or call for ``run_for`` seconds when
    given). What happened comes back: successes, failures, limiter log events."""
    from b24hook import B24Hook

    keep = _Keep()
    lg = logging.getLogger("b24hook.limiter")
    lg.addHandler(keep)
    lg.setLevel(logging.DEBUG)
    params = {"shared": shared} if shared else None
    b24 = B24Hook.from_webhook_url(url, verify=ca, restriction_params=params)
    Path(sync_dir, f"ready-{os.getpid()}").touch()
    go = Path(sync_dir, "go")
    while not go.exists():
        time.sleep(0.01)
    ok = failed = 0
    errors: list[str] = []
    stop = time.monotonic() + run_for
    n = 0
    while (n < calls) if not run_for else (time.monotonic() < stop):
        n += 1
        try:
            r = b24.actions.v2.call.make("server.time")
            if r.is_success:
                ok += 1
            else:
                failed += 1
                errors.append(str(r.get_error_messages()))
        except Exception as e:  # a failed call is what the test counts
            failed += 1
            errors.append(type(e).__name__)
        if run_for:
            time.sleep(0.05)
    b24.close()
    return {"ok": ok, "failed": failed, "errors": errors[:5], "events": keep.events,
            "pid": os.getpid()}
