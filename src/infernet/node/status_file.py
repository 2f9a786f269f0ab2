"""The running daemon's status snapshot, `status.json` next to the config file.

The daemon rewrites it after every heartbeat (atomically: temp file + rename, mode 0600),
so `infernet status` and `infernet doctor`, which run in other processes, can say what the
daemon knows without asking it: its pid, node id, control plane, last heartbeat (time and
latency), backend (name, host, health), served and loaded models, active jobs.

The pid also lets `infernet model install/remove` ask a running daemon for a sync
heartbeat: it sends SIGUSR1 (the daemon re-reads `served_models` from the config and
heartbeats at once) and waits until the snapshot shows a heartbeat newer than the request.
A snapshot whose pid is not a live process is stale: the daemon is not running.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infernet.node.config import write_atomic

STATUS_FILE_NAME = "status.json"
SYNC_SIGNAL = signal.SIGUSR1


class StatusSnapshot(BaseModel):
    model_config = ConfigDict(extra="ignore")

    pid: int
    version: str
    node_id: str | None
    control_plane_url: str
    started_at: float  # epoch seconds
    last_heartbeat_at: float | None = None  # epoch seconds of the last successful beat
    heartbeat_latency_ms: float | None = None
    heartbeat_status: str | None = None  # what the control plane answered: online, ...
    last_error: str | None = None  # the last failed heartbeat's reason, cleared on success
    backend: str
    backend_host: str
    backend_healthy: bool = False
    served_models: list[str] = Field(default_factory=list)  # advertised (config ∩ backend)
    loaded_models: list[str] = Field(default_factory=list)  # resident in memory
    vram_tier: str = "cpu"
    active_jobs: int = 0
    max_concurrent_jobs: int = 1
    jobs_completed: int = 0  # since the daemon started
    jobs_failed: int = 0


def status_path(config_path: Path) -> Path:
    return config_path.with_name(STATUS_FILE_NAME)


def write_status(path: Path, snapshot: StatusSnapshot) -> None:
    write_atomic(path, snapshot.model_dump_json(indent=2) + "\n")


def read_status(path: Path) -> StatusSnapshot | None:
    """The snapshot, or None when there is none or it cannot be read (never raises)."""
    try:
        return StatusSnapshot.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError):
        return None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


def running_daemon(path: Path) -> StatusSnapshot | None:
    """The snapshot of a daemon that is running now, or None."""
    snapshot = read_status(path)
    return snapshot if snapshot is not None and process_alive(snapshot.pid) else None


async def request_sync(path: Path, *, timeout_s: float = 10.0) -> StatusSnapshot | None:
    """Ask the running daemon for a sync heartbeat and wait for it; the new snapshot, or
    None when no daemon runs or none came within `timeout_s`."""
    before = running_daemon(path)
    if before is None:
        return None
    asked_at = time.time()
    os.kill(before.pid, SYNC_SIGNAL)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        now = read_status(path)
        if now is not None and (now.last_heartbeat_at or 0) >= asked_at:
            return now
    return None
