"""Throwaway PostgreSQL and Redis servers for the two-replica row (6b).

The same approach as the test suite's fixtures (tests/support/postgres.py and redis.py):
Debian's `postgresql` and `redis-server` binaries, loopback only, a free port, data in a
temporary directory that is deleted afterwards, no durability (fsync off, no saves).
initdb refuses to run as root, so as root PostgreSQL runs as the `postgres` user. Each
server is stopped by its own data directory or pid, never by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from infernet.engine.launch import free_port


def missing() -> str:
    """Why the servers cannot run here, or "" when both binaries are installed."""
    lacking = []
    if _postgres_bin() is None:
        lacking.append("PostgreSQL (apt-get install postgresql)")
    if shutil.which("redis-server") is None:
        lacking.append("redis-server (apt-get install redis-server)")
    return " and ".join(lacking) + " not installed" if lacking else ""


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class Postgres:
    def __init__(self, work: Path) -> None:
        bindir = _postgres_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed")
        self.bindir, self.port = bindir, free_port()
        self.root = Path(tempfile.mkdtemp(prefix="infernet-bench-pg-"))
        self.data, self.log = self.root / "data", work / "postgres.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c fsync=off "
            f"-c unix_socket_directories={self.root} -c max_connections=200"
        )
        server_log = self.root / "server.log"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-l", str(server_log),
                  "start")  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "stop")
        with contextlib.suppress(OSError):
            shutil.copyfile(self.root / "server.log", self.log)
        shutil.rmtree(self.root, ignore_errors=True)


class Redis:
    def __init__(self, work: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.binary, self.port, self.work = binary, free_port(), work
        self.root = Path(tempfile.mkdtemp(prefix="infernet-bench-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.root)]
        with open(self.work / "redis.log", "ab") as log:
            self._proc = subprocess.Popen(argv, stdout=log, stderr=log)
        async with asyncio.timeout(10):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                return

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            self._proc = None
        shutil.rmtree(self.root, ignore_errors=True)
