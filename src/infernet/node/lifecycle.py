"""Install, upgrade and removal facts the CLI acts on: is there a newer version, where
was this CLI installed from, which daemon is running and how to drain it.

* Version check: `GET <control plane>/version` answers `{"version": "X"}` (or plain text,
  as the Book's `/version`). It runs in a daemon thread given at most `timeout_s` (1 s): a
  slow or unreachable control plane never delays `infernet --version`, it just prints no
  hint.
* Install record: `install.sh` writes `<prefix>/install.json` (`source`, `prefix`,
  `venv`, `link`); `infernet upgrade` re-runs the installer from that source into the same
  virtualenv, and `infernet remove` deletes exactly what it created. Config and keys live
  elsewhere (`~/.config/infernet`, `~/.infernet/keys`) and are never touched by either.
* Drain: SIGUSR2 asks a running daemon to stop taking jobs, finish the running ones and
  exit (`NodeDaemon.drain`); under systemd or launchd it is restarted on the new code.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import BaseModel, ValidationError

from infernet.node.status_file import read_status, status_path

INSTALL_RECORD = "install.json"


def version_key(version: str) -> tuple[int, ...]:
    """`v0.10.2rc1` -> (0, 10, 2); comparable as a tuple."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def fetch_latest(url: str, timeout_s: float = 1.0) -> str | None:
    """The control plane's version, or None when it does not answer within `timeout_s`."""
    found: list[str] = []

    def ask() -> None:
        try:
            response = httpx.get(url.rstrip("/") + "/version", timeout=timeout_s)
        except httpx.HTTPError:
            return
        if response.status_code != 200:
            return
        try:
            found.append(str(response.json()["version"]))
        except (ValueError, KeyError, TypeError):
            found.append(response.text.strip())

    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    worker.join(timeout_s)
    return found[0] if found and found[0] else None


def version_hint(current: str, latest: str | None) -> str | None:
    if latest is None:
        return None
    if version_key(latest) > version_key(current):
        return f"  update available: {latest} (run `infernet upgrade`)"
    return "  up to date"


class InstallRecord(BaseModel):
    source: str  # the directory install.sh ran from
    prefix: str
    venv: str
    link: str | None = None  # the `infernet` symlink it put on PATH

    @classmethod
    def find(cls, prefix: Path = Path(sys.prefix)) -> InstallRecord | None:
        """The record of the install this Python belongs to (venv or its parent prefix)."""
        for candidate in (prefix / INSTALL_RECORD, prefix.parent / INSTALL_RECORD):
            try:
                return cls.model_validate_json(candidate.read_text(encoding="utf-8"))
            except (OSError, ValidationError):
                continue
        return None

    def installer(self) -> Path:
        return Path(self.source) / "install.sh"

    def reinstall_argv(self) -> list[str]:
        argv = ["bash", str(self.installer()), "--prefix", self.prefix, "--no-setup"]
        return argv + (["--bin-dir", str(Path(self.link).parent)] if self.link else [])


def daemon_pid(config_path: Path) -> int | None:
    """The running daemon's pid (from `start --detach`'s pid file or the status file)."""
    candidates: list[int] = []
    pid_file = config_path.with_name("daemon.pid")
    if pid_file.exists():
        with contextlib.suppress(ValueError):
            candidates.append(int(pid_file.read_text().strip()))
    if (snapshot := read_status(status_path(config_path))) is not None:
        candidates.append(snapshot.pid)
    return next((pid for pid in candidates if _alive(pid)), None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


@dataclass(frozen=True)
class DrainResult:
    pid: int
    exited: bool


def drain_daemon(
    pid: int,
    timeout_s: float,
    *,
    kill: Callable[[int, int], None] = os.kill,
    alive: Callable[[int], bool] = _alive,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainResult:
    """Ask the daemon to drain (SIGUSR2) and wait up to `timeout_s` for it to exit."""
    kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return DrainResult(pid, True)
        sleep(0.5)
    return DrainResult(pid, not alive(pid))
