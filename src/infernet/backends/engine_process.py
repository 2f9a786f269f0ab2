"""An engine server process this node started: one class for every engine it starts (the
embedded llama.cpp under `infernet up`, vLLM / SGLang / MAX under managed launch).

- `EngineProcess.start` runs a `LaunchPlan` in its own process group (so `stop()` reaps the
  engine's workers too) with stdin closed and stdout + stderr appended to one log file, so
  a failed start or a crash can quote what the engine said;
- `wait_healthy` / `wait_ready` poll its health endpoint and fail at once if it exits;
- `exit_reason` / `crash_report` say how it ended, in words: "crashed (SIGSEGV)", "exited
  with status 3", with the last lines of its log and the log's path;
- `stop()` sends SIGTERM to the group, then SIGKILL if it lingers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infernet.backends.errors import EngineStartFailed

_POLL_S = 0.25
_TAIL_LINES = 12
_TAIL_BYTES = 4000
# Signals that mean the engine itself failed, as opposed to being stopped from outside.
_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGFPE, signal.SIGABRT}


@dataclass(frozen=True, slots=True)
class LaunchPlan:
    """One engine server to start: its argv, extra environment and where it will answer."""

    argv: tuple[str, ...]
    base_url: str
    health_path: str
    env: Mapping[str, str] = field(default_factory=dict)


def free_port(preferred: int | None = None, bind_host: str = "127.0.0.1") -> int:
    """`preferred` if nothing listens there, else a port the OS picks."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((bind_host, port))
            except OSError:
                continue
            chosen: int = probe.getsockname()[1]
            return chosen
    raise OSError(f"no free TCP port on {bind_host}")


def exit_reason(returncode: int) -> str:
    """How a process ended, as a sentence fragment: "crashed (SIGSEGV)", "was killed
    (SIGKILL)", "exited with status 3"."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        sig = signal.Signals(-returncode)
    except ValueError:
        return f"was killed by signal {-returncode}"
    return f"crashed ({sig.name})" if sig in _CRASH_SIGNALS else f"was killed ({sig.name})"


class EngineProcess:
    """A running engine server that this node started and therefore must watch and stop."""

    def __init__(
        self,
        plan: LaunchPlan,
        process: subprocess.Popen[bytes],
        log_path: Path,
        *,
        title: str,
        log_offset: int = 0,
    ) -> None:
        self.plan, self.log_path, self.title = plan, log_path, title
        self._process = process
        self._log_offset = log_offset  # where this process's lines start in the log

    @classmethod
    def start(
        cls,
        plan: LaunchPlan,
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        title: str | None = None,
    ) -> EngineProcess:
        """Start `plan`, appending its output to `log_path` after a line saying so."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"==> [{stamp}] starting {shlex.join(plan.argv)}\n".encode())
            log.flush()
            offset = log.tell()
            try:
                process = subprocess.Popen(
                    plan.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **(env or {}), **plan.env},
                    start_new_session=True,  # its own process group: stop() reaps workers too
                )
            except OSError as exc:
                raise EngineStartFailed(
                    f"could not start `{shlex.join(plan.argv)}`: {exc}. Is the engine "
                    "installed and on PATH?"
                ) from exc
        title = title or f"`{shlex.join(plan.argv)}`"
        return cls(plan, process, log_path, title=title, log_offset=offset)

    @property
    def url(self) -> str:
        return self.plan.base_url

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.poll()

    @property
    def running(self) -> bool:
        return self.returncode is None

    def log_tail(self, lines: int = _TAIL_LINES) -> str:
        """The last lines this process wrote to its log."""
        try:
            with self.log_path.open("rb") as log:
                size = log.seek(0, os.SEEK_END)
                log.seek(max(self._log_offset, size - _TAIL_BYTES))
                data = log.read()
        except OSError:
            return ""
        all_lines = data.decode("utf-8", "replace").strip().splitlines()
        tail = all_lines[-lines:]
        # Python's fatal-error report (faulthandler) names the signal above a long stack.
        fatal = [line for line in all_lines[:-lines] if line.startswith("Fatal Python error")]
        return "\n".join([fatal[-1], "...", *tail] if fatal else tail)

    def exit_reason(self) -> str | None:
        """How it ended ("crashed (SIGSEGV)", ...), or None while it runs."""
        code = self.returncode
        return None if code is None else exit_reason(code)

    def crash_report(self, doing: str = "") -> str:
        """What a user needs after it died: how, its last log lines, and the log's path."""
        how = self.exit_reason() or "stopped answering"
        when = f" {doing}" if doing else ""
        tail = self.log_tail() or "(the log is empty)"
        return (
            f"{self.title} {how}{when}; last lines of its log:\n{tail}\nlog file: {self.log_path}"
        )

    async def wait_healthy(self, timeout_s: float) -> AsyncIterator[float]:
        """Poll the health endpoint until it answers 200, yielding the seconds waited so
        far about once a second; EngineStartFailed if the server exits or times out."""
        started = time.monotonic()
        last_report = -1.0
        async with httpx.AsyncClient(base_url=self.plan.base_url, timeout=2.0) as client:
            while True:
                elapsed = time.monotonic() - started
                if await self._answers(client):
                    return
                if self.returncode is not None:
                    raise EngineStartFailed(self.crash_report("before it was ready"))
                if elapsed > timeout_s:
                    raise EngineStartFailed(
                        f"{self.title} did not become healthy within {timeout_s:.0f} s; last "
                        f"lines of its log:\n{self.log_tail()}\nlog file: {self.log_path}"
                    )
                if elapsed - last_report >= 1.0:
                    last_report = elapsed
                    yield elapsed
                await asyncio.sleep(_POLL_S)

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        """`wait_healthy` without the progress."""
        async for _ in self.wait_healthy(timeout_s):
            pass

    async def _answers(self, client: httpx.AsyncClient) -> bool:
        try:
            response = await client.get(self.plan.health_path)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def wait_exit(self, timeout_s: float | None = None) -> int | None:
        """Its exit status once it has ended; None if it still runs after `timeout_s`."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while (code := self.returncode) is None:
            if deadline is not None and time.monotonic() >= deadline:
                return None
            await asyncio.sleep(_POLL_S / 5 if deadline is not None else _POLL_S)
        return code

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM the server's process group, then SIGKILL it if it lingers (blocking:
        async callers run it in a thread)."""
        if not self.running:
            return
        self._signal(signal.SIGTERM)
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self._process.wait()
        self._signal(signal.SIGKILL)  # workers it left behind in its group, if any

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, sig)
