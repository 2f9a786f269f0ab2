"""`infernet status [--json]`: what this node is doing, from three sources.

- The daemon's status snapshot (`node/status_file.py`): node id, uptime, backend and its
  health, served and loaded models, running jobs, last heartbeat. A snapshot whose process
  is gone is reported as "daemon not running" with its last known facts.
- The control plane: `GET /api/v1/nodes/{id}` with the config's `api_key` (or
  `INFERNET_API_KEY`) for its view (status, models it routes to this node, active jobs);
  without a key, the public `GET /api/v1/nodes/{id}/status`.
- This machine: GPUs (name, VRAM, utilization) from hardware detection, and the tier by
  the rule the heartbeat uses (`effective_tier`): detected now, unless `vram_tier` is set
  in the config, in which case both are shown when they differ.

Earnings are not shown: payments are another command (`infernet payments`). Completed-job
counts are not kept by the daemon yet; the line shows running jobs only.
`--json` nests GPU facts under `gpu` (the Book's `.gpu.utilization`) for the first GPU and
lists every GPU under `gpus`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import typer
from pydantic import BaseModel

from infernet.cli import nodectx
from infernet.cli.common import console, user_errors
from infernet.cli.nodectx import load
from infernet.httperrors import describe
from infernet.node.config import NodeConfig
from infernet.node.gpus import GpuInfo
from infernet.node.hardware import effective_tier
from infernet.node.status_file import StatusSnapshot, process_alive, read_status, status_path
from infernet.protocol.keys import KeyFileError, NodeKey, npub_from_public_hex

CONFIG_OPTION = typer.Option(None, "--config", envvar="INFERNET_CONFIG", help="Config file.")


class GpuStatus(BaseModel):
    name: str
    vram_gb: float
    utilization: float | None
    memory_used_gb: float | None

    @classmethod
    def of(cls, gpu: GpuInfo) -> GpuStatus:
        used = gpu.vram_used_mb / 1024 if gpu.vram_used_mb is not None else None
        return cls(
            name=gpu.name,
            vram_gb=round(gpu.vram_total_gib, 1),
            utilization=gpu.utilization_pct,
            memory_used_gb=round(used, 1) if used is not None else None,
        )


class ControlPlaneView(BaseModel):
    url: str
    reachable: bool
    status: str | None = None  # online / degraded / offline, as the control plane sees it
    served_models: list[str] | None = None  # what it routes to this node (needs an API key)
    active_jobs: int | None = None
    detail: str = ""


class NodeStatusReport(BaseModel):
    node_id: str | None
    public_key: str | None
    daemon_running: bool
    pid: int | None
    uptime_s: float | None
    tier: str
    tier_source: str  # "hardware", or "config" when vram_tier pins it
    detected_tier: str
    tier_text: str  # the tier as `status` prints it, with its source when pinned
    gpu: GpuStatus | None
    gpus: list[GpuStatus]
    backend: str | None
    backend_host: str | None
    backend_healthy: bool | None
    served_models: list[str]
    loaded_models: list[str]
    control_plane: ControlPlaneView
    heartbeat_age_s: float | None
    active_jobs: int
    max_concurrent_jobs: int
    jobs_completed: int  # since the daemon started
    jobs_failed: int


def control_plane_view(url: str, node_id: str | None, api_key: str | None) -> ControlPlaneView:
    view = ControlPlaneView(url=url, reachable=False)
    if node_id is None:
        view.detail = "node id unknown: the daemon has not registered yet"
        return view
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    path = f"/api/v1/nodes/{node_id}" if api_key else f"/api/v1/nodes/{node_id}/status"
    try:
        response = httpx.get(url.rstrip("/") + path, headers=headers, timeout=5.0)
    except httpx.HTTPError as exc:
        view.detail = f"unreachable: {describe(exc)}"
        return view
    view.reachable = True
    if response.status_code != 200:
        view.detail = f"{path} answered {response.status_code}"
        return view
    body = response.json()
    view.status = body.get("status")
    if api_key:
        view.served_models = body.get("served_models")
        view.active_jobs = body.get("active_jobs")
    return view


def _public_key(config: NodeConfig) -> str | None:
    if config.public_key:
        return config.public_key
    try:
        return NodeKey.load(config.key_file()).public_hex
    except (OSError, KeyFileError):
        return None


def build_report(config_path: Path, config: NodeConfig) -> NodeStatusReport:
    snap: StatusSnapshot | None = read_status(status_path(config_path))
    running = snap is not None and process_alive(snap.pid)
    node_id = (snap.node_id if snap else None) or config.node_id
    api_key = config.api_key or os.environ.get("INFERNET_API_KEY")
    report = nodectx.hardware()
    tier = effective_tier(config.vram_tier, report)
    gpus = [GpuStatus.of(g) for g in report.gpus]
    now = time.time()
    last = snap.last_heartbeat_at if snap else None
    return NodeStatusReport(
        node_id=node_id,
        public_key=_public_key(config),
        daemon_running=running,
        pid=snap.pid if snap and running else None,
        uptime_s=round(now - snap.started_at) if snap and running else None,
        tier=tier.tier,
        tier_source=tier.source,
        detected_tier=report.tier,
        tier_text=tier.describe(),
        gpu=gpus[0] if gpus else None,
        gpus=gpus,
        backend=snap.backend if snap else config.backend,
        backend_host=snap.backend_host if snap else None,
        backend_healthy=snap.backend_healthy if snap else None,
        served_models=snap.served_models if snap else config.served_models,
        loaded_models=snap.loaded_models if snap else [],
        control_plane=control_plane_view(config.control_plane_url, node_id, api_key),
        heartbeat_age_s=round(now - last, 1) if last else None,
        active_jobs=snap.active_jobs if snap and running else 0,
        max_concurrent_jobs=config.max_concurrent_jobs,
        jobs_completed=snap.jobs_completed if snap and running else 0,
        jobs_failed=snap.jobs_failed if snap and running else 0,
    )


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def human_duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return _count(minutes, "minute") if minutes else _count(secs, "second")


def render(report: NodeStatusReport) -> list[str]:
    cp = report.control_plane
    status = cp.status or ("unknown: " + cp.detail if cp.detail else "unknown")
    daemon = f"running (pid {report.pid})" if report.daemon_running else "not running"
    backend = f"{report.backend or 'not chosen'}" + (
        f" ({report.backend_host})" if report.backend_host else ""
    )
    if report.backend_healthy is False:
        backend += " — not healthy"
    gpu = f"none ({report.detected_tier} tier)"
    if report.gpus:
        gpu = "; ".join(
            f"{g.name} ({g.vram_gb:.0f} GB)"
            + (f" — {g.utilization:.0f}% utilized" if g.utilization is not None else "")
            for g in report.gpus
        )
    npub = npub_from_public_hex(report.public_key) if report.public_key else "-"
    lines = [
        f"Node:           {report.node_id or 'not registered yet'}",
        f"Status:         {status}",
        f"Daemon:         {daemon}",
        f"Uptime:         {human_duration(report.uptime_s) if report.uptime_s else '-'}",
        f"Backend:        {backend}",
        f"Models:         {', '.join(report.served_models) or 'none'}",
        f"Models loaded:  {', '.join(report.loaded_models) or 'none'}",
        f"Tier:           {report.tier_text}",
        f"GPU:            {gpu}",
        f"Jobs:           {report.active_jobs} running (max {report.max_concurrent_jobs}), "
        f"{report.jobs_completed} completed, {report.jobs_failed} failed since start",
        f"Control plane:  {cp.url}",
        "Last heartbeat: "
        + (f"{human_duration(report.heartbeat_age_s)} ago" if report.heartbeat_age_s else "never"),
        f"Public key:     {npub}",
    ]
    return lines


def status(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Node summary: tier, GPUs, backend, served models, control plane, heartbeat, jobs."""
    with user_errors():
        path, settings = load(config)
        report = build_report(path, settings)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    for line in render(report):
        console.print(line, highlight=False)
