"""A throwaway Redis server for tests, from Debian's `redis-server` package: loopback, a
free port, no persistence, in a temporary directory; restartable on the same port, and
able to stall (paused: connected, answering no one)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infernet.backends.engine_process import free_port


def redis_bin() -> str | None:
    return shutil.which("redis-server")


def throwaway_redis() -> Iterator[RedisServer]:
    """A fixture's body: a started server, closed afterwards; skips without redis-server."""
    if redis_bin() is None:
        pytest.skip("redis-server is not installed: apt-get install redis-server")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


class RedisServer:
    def __init__(self) -> None:
        binary = redis_bin()
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary, self.port = binary, free_port()
        self.root = Path(tempfile.mkdtemp(prefix="infernet-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.root)]
        self._proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def pause(self) -> None:
        """Stop the server's process without closing anything: it answers no one."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
