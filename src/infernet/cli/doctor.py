"""`infernet doctor`: every check the Book lists (8.3), in its order, then the rest of the
node requirement checks (OS, RAM, disk size, NVMe, ROCm), as `[OK]` / `[WARN]` / `[FAIL]`
lines with what to do under each problem.

Footer: `All checks passed.`, `All checks passed (1 warning).`, or `N checks failed.`
with exit status 1 when any check failed.

Decisions where the Book is silent:
- CLI version: there is no release feed to compare with yet, so the line says the version
  and that no update check was made (never a made-up "(latest)").
- Node registered / online: the node id comes from the daemon's status file (or the
  config); the control plane's public `GET /api/v1/nodes/{id}/status` says whether it is
  online, and the status file how long ago the last heartbeat went out.
- Firewall: the daemon only connects out, so the check opens a TCP connection to the
  control plane's host and port (443 for https).
- System time: an SNTP query to `pool.ntp.org` (`INFERNET_NTP_SERVER=host[:port]` to
  change it); when NTP is unreachable the control plane's `Date` header stands in, since
  node request signatures are checked against its clock. Over 30 s of drift fails.
- Upload latency is the round trip of `GET /healthz` on the control plane (> 100 ms warns).
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlparse

import httpx
import typer

from infernet import __version__
from infernet.backends.errors import BackendError
from infernet.cli.common import Exit, console
from infernet.cli.model import hardware, open_backend
from infernet.node.config import ConfigError, NodeConfig, default_config_path, load_config
from infernet.node.hardware import HardwareReport
from infernet.node.models import served_mismatch
from infernet.node.requirements import (
    CheckResult,
    check_cuda,
    check_disk_free,
    check_disk_size,
    check_gpu_drivers,
    check_nvme,
    check_os,
    check_ram,
    check_rocm,
    check_upload_latency,
)
from infernet.node.status_file import read_status, status_path
from infernet.protocol.keys import KeyFileError, NodeKey

MAX_DRIFT_S = 30.0
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
LABELS = {"pass": "[green][OK][/]", "warn": "[yellow][WARN][/]", "fail": "[red][FAIL][/]"}


def sntp_offset(host: str, port: int = 123, timeout: float = 1.5) -> float | None:
    """Server clock minus ours, in seconds (RFC 4330 client request), or None."""
    packet = b"\x1b" + 47 * b"\0"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sent = time.time()
            sock.sendto(packet, (host, port))
            data, _ = sock.recvfrom(512)
            received = time.time()
    except OSError:
        return None
    if len(data) < 48:
        return None
    seconds, fraction = struct.unpack("!II", data[40:48])
    server = float(seconds - NTP_EPOCH_OFFSET) + float(fraction) / 2**32
    return server - (sent + received) / 2


@dataclass
class Probe:
    """What the control-plane round trip told us."""

    latency_ms: float | None = None
    clock_offset_s: float | None = None
    error: str = ""


def probe_control_plane(url: str) -> Probe:
    started = time.time()
    try:
        response = httpx.get(url.rstrip("/") + "/healthz", timeout=5.0)
    except httpx.HTTPError as exc:
        return Probe(error=repr(exc))
    finished = time.time()
    probe = Probe(latency_ms=(finished - started) * 1000)
    if response.status_code != 200:
        probe.error = f"/healthz answered {response.status_code}"
    if date := response.headers.get("date"):
        probe.clock_offset_s = parsedate_to_datetime(date).timestamp() - (started + finished) / 2
    return probe


def check_cli_version() -> CheckResult:
    return CheckResult("CLI version", "pass", f"{__version__} (no release feed to compare with)")


def check_keypair(config: NodeConfig) -> CheckResult:
    path = config.key_file()
    try:
        key = NodeKey.load(path)
    except (OSError, KeyFileError) as exc:
        return CheckResult("Node keypair", "fail", str(exc), "Run `infernet setup` or `init`.")
    return CheckResult("Node keypair", "pass", f"{key.npub[:20]}... ({path})")


def check_reachable(url: str, probe: Probe) -> CheckResult:
    host = urlparse(url).hostname or url
    if probe.latency_ms is None or probe.error:
        return CheckResult(
            "Control plane",
            "fail",
            f"{url} not reachable: {probe.error}",
            "Check the URL (`control_plane_url` in the config) and your network.",
        )
    return CheckResult("Control plane", "pass", f"{host} reachable ({probe.latency_ms:.0f}ms)")


def check_registered(url: str, node_id: str | None) -> tuple[CheckResult, str | None]:
    if node_id is None:
        hint = "Run `infernet setup` or `infernet start`, which register the node."
        return CheckResult("Node registered", "fail", "no node id yet", hint), None
    try:
        response = httpx.get(f"{url.rstrip('/')}/api/v1/nodes/{node_id}/status", timeout=5.0)
    except httpx.HTTPError as exc:
        return CheckResult("Node registered", "fail", f"{node_id}: {exc!r}"), None
    if response.status_code == 404:
        hint = "Run `infernet start`; it registers the node again."
        return CheckResult("Node registered", "fail", f"{node_id} unknown to {url}", hint), None
    status = response.json().get("status") if response.status_code == 200 else None
    return CheckResult("Node registered", "pass", node_id), status


def check_online(config_path: Path, status: str | None) -> CheckResult:
    snap = read_status(status_path(config_path))
    age = (
        f"last heartbeat {time.time() - snap.last_heartbeat_at:.0f}s ago"
        if snap and snap.last_heartbeat_at
        else "no heartbeat recorded"
    )
    if status == "online":
        return CheckResult("Node online", "pass", age)
    return CheckResult(
        "Node online",
        "fail",
        f"{status or 'offline'} ({age})",
        "Start the daemon: `infernet start`.",
    )


async def check_backend(config: NodeConfig) -> list[CheckResult]:
    try:
        async with open_backend(config) as backend:
            health = await backend.health()
            where = f"{backend.name}"
            if not health.ok:
                return [
                    CheckResult(
                        f"Backend ({where})",
                        "fail",
                        f"not reachable at {backend.host}: {health.detail}",
                        "Start the backend, then run `infernet doctor` again.",
                    )
                ]
            installed = await backend.list_models()
    except BackendError as exc:
        return [CheckResult("Backend", "fail", str(exc))]
    loaded = [m.name for m in installed if m.loaded]
    results = [
        CheckResult(f"Backend ({where})", "pass", f"running at {backend.host}"),
        CheckResult(
            "Models loaded",
            "pass" if loaded else "warn",
            ", ".join(loaded) or "none loaded right now",
            ""
            if loaded
            else "Models load on their first job; `infernet model list` shows what is installed.",
        ),
    ]
    mismatch = served_mismatch(config.served_models, installed)
    if mismatch:
        detail = (
            f"config has {len(config.served_models)}, backend has {len(installed)}: "
            + "; ".join(mismatch)
        )
        results.append(
            CheckResult(
                "served_models mismatch",
                "warn",
                detail,
                "Use `infernet model install NAME` / `remove NAME` so both agree.",
            )
        )
    else:
        results.append(
            CheckResult(
                "served_models", "pass", f"{len(config.served_models)} served, all in the backend"
            )
        )
    return results


def check_outbound(url: str) -> CheckResult:
    parsed = urlparse(url)
    host = parsed.hostname or "localhost"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=3.0):
            pass
    except OSError as exc:
        hint = f"Allow outbound TCP {port} (e.g. `ufw allow out {port}/tcp`)."
        return CheckResult("Firewall", "fail", f"outbound {host}:{port} blocked: {exc}", hint)
    return CheckResult("Firewall", "pass", f"outbound {port} to {host} open")


def check_gpu_memory(report: HardwareReport) -> CheckResult | None:
    if not report.gpus:
        return None
    total = report.vram_total_gib
    used = sum(g.vram_used_mb or 0 for g in report.gpus) / 1024
    free = total - used
    return CheckResult(
        "GPU memory", "pass", f"{total:.0f} GB ({used:.1f} GB used, {free:.1f} GB free)"
    )


def _ntp_server() -> tuple[str, int]:
    host, _, port = os.environ.get("INFERNET_NTP_SERVER", "pool.ntp.org").partition(":")
    return host, int(port or 123)


def check_time(probe: Probe) -> CheckResult:
    offset, source = sntp_offset(*_ntp_server()), "NTP"
    if offset is None:
        offset, source = probe.clock_offset_s, "the control plane's clock"
    if offset is None:
        return CheckResult(
            "System time",
            "warn",
            "neither NTP nor the control plane answered",
            "Check that NTP (e.g. systemd-timesyncd) is running.",
        )
    drift = abs(offset)
    minutes, seconds = divmod(round(drift), 60)
    spelled = f"{minutes}m {seconds}s" if minutes else f"{drift:.1f}s"
    if drift > MAX_DRIFT_S:
        return CheckResult(
            "System time",
            "fail",
            f"{spelled} drift from {source} (max 30s)",
            "Enable time sync: `timedatectl set-ntp true`.",
        )
    return CheckResult("System time", "pass", f"{spelled} from {source}")


async def run_doctor(config_path: Path) -> list[CheckResult]:
    results = [check_cli_version()]
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return [*results, CheckResult("Config file", "fail", str(exc), "Run `infernet setup`.")]
    results.append(CheckResult("Config file", "pass", str(config_path)))
    results.append(check_keypair(config))
    url = config.control_plane_url
    probe = await asyncio.to_thread(probe_control_plane, url)
    results.append(check_reachable(url, probe))
    snap = read_status(status_path(config_path))
    node_id = (snap.node_id if snap else None) or config.node_id
    registered, status = await asyncio.to_thread(check_registered, url, node_id)
    results += [registered, check_online(config_path, status)]
    results += await check_backend(config)
    results.append(await asyncio.to_thread(check_outbound, url))
    report = await asyncio.to_thread(hardware)
    results.append(check_disk_free(report.disk))
    results += check_gpu_drivers(report)
    optional = (check_cuda(report, config.backend), check_gpu_memory(report))
    results += [r for r in optional if r is not None]
    results.append(await asyncio.to_thread(check_time, probe))
    results += [check_os(report.os), check_ram(report), check_disk_size(report.disk, report.tier)]
    results += [r for r in (check_nvme(report.disk), check_rocm(report)) if r is not None]
    if probe.latency_ms is not None:
        results.append(check_upload_latency(probe.latency_ms))
    return results


def footer(results: list[CheckResult]) -> tuple[str, int]:
    failed = sum(r.status == "fail" for r in results)
    warned = sum(r.status == "warn" for r in results)
    if failed:
        noun = "check" if failed == 1 else "checks"
        return f"{failed} {noun} failed.", int(Exit.FAILED)
    if warned:
        return f"All checks passed ({warned} warning{'s' if warned > 1 else ''}).", 0
    return "All checks passed.", 0


def doctor(
    config: Path = typer.Option(None, "--config", envvar="INFERNET_CONFIG", help="Config file."),
) -> None:
    """Diagnose this node: config, keys, control plane, backend, models, disk, GPU, clock."""
    console.print("Infernet Node Diagnostics\n=========================")
    results = asyncio.run(run_doctor(config or default_config_path()))
    for result in results:
        console.print(f"{LABELS[result.status]} {result.name}: {result.detail}", highlight=False)
        if result.hint and result.status != "pass":
            console.print(f"       {result.hint}", highlight=False)
    line, code = footer(results)
    console.print(line)
    raise typer.Exit(code)
