"""The host around the GPUs: running the probing tools, RAM, OS and the models disk.

Every probe goes through an injected `CommandRunner` (argv in, `CompletedOutput` out, None
when the tool is not installed) and injected file paths (`HostPaths`), so tests replay
recorded output and nothing here needs the machine it describes. Sources: `/proc/meminfo`,
`/etc/os-release`, `/sys/block` (NVMe or not, rotational), `sysctl -n hw.memsize` (macOS).

Units: RAM in GiB (RAM is sold in binary sizes); disk in decimal GB (disks are sold in
decimal sizes). GPU probing lives in `infernet.node.gpus`; the whole report and the tier
rule in `infernet.node.hardware`.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CompletedOutput:
    returncode: int
    stdout: str
    stderr: str = ""


class CommandRunner(Protocol):
    """Runs argv; returns None when the program is not installed."""

    def __call__(self, argv: Sequence[str]) -> CompletedOutput | None: ...


def subprocess_runner(timeout_s: float = 4.0) -> CommandRunner:
    """The real runner: a missing program gives None, a hung one exit status 124."""

    def run(argv: Sequence[str]) -> CompletedOutput | None:
        if shutil.which(argv[0]) is None:
            return None
        try:
            cmd = list(argv)
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            return CompletedOutput(124, "", f"{argv[0]} did not answer within {timeout_s:g} s")
        except OSError as exc:
            return CompletedOutput(126, "", f"{argv[0]} could not run: {exc}")
        return CompletedOutput(done.returncode, done.stdout, done.stderr)

    return run


@dataclass(frozen=True, slots=True)
class OsInfo:
    system: str  # "linux", "darwin", "windows"
    id: str  # os-release ID ("ubuntu"), "macos", "windows"
    version_id: str
    pretty_name: str
    id_like: tuple[str, ...] = ()
    wsl: bool = False


@dataclass(frozen=True, slots=True)
class DiskInfo:
    path: str
    total_gb: float
    free_gb: float
    device: str | None = None
    is_nvme: bool | None = None  # None: could not tell
    rotational: bool | None = None


@dataclass(frozen=True, slots=True)
class PlatformInfo:
    system: str
    release: str = ""
    mac_version: str = ""

    @classmethod
    def current(cls) -> PlatformInfo:
        return cls(platform.system().lower(), platform.release(), platform.mac_ver()[0])


@dataclass(frozen=True, slots=True)
class HostPaths:
    meminfo: Path = Path("/proc/meminfo")
    os_release: Path = Path("/etc/os-release")
    sys_root: Path = Path("/sys")
    rocm_version: Path = Path("/opt/rocm/.info/version")
    models_dir: Path = field(default_factory=Path.home)


def parse_number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def parse_int(text: str) -> int | None:
    value = parse_number(text)
    return None if value is None else int(value)


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def memsize_bytes(run: CommandRunner) -> int | None:
    """macOS physical memory (`sysctl -n hw.memsize`), which Apple GPUs share."""
    done = run(("sysctl", "-n", "hw.memsize"))
    return parse_int(done.stdout) if done is not None and done.returncode == 0 else None


# --- RAM, OS, disk -----------------------------------------------------------------------


def parse_meminfo_gb(text: str) -> float | None:
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(match.group(1)) / (1024 * 1024) if match else None


def parse_os_release(text: str, *, wsl: bool = False) -> OsInfo:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("\"'")
    os_id = values.get("ID", "linux").lower()
    like = tuple(values.get("ID_LIKE", "").split())
    version, pretty = values.get("VERSION_ID", ""), values.get("PRETTY_NAME", os_id)
    return OsInfo("linux", os_id, version, pretty, like, wsl)


def ram_gb(run: CommandRunner, host: PlatformInfo, paths: HostPaths) -> float | None:
    if host.system == "darwin":
        memsize = memsize_bytes(run)
        return None if memsize is None else memsize / 1024**3
    return parse_meminfo_gb(read_text(paths.meminfo) or "")


def os_info(host: PlatformInfo, paths: HostPaths) -> OsInfo:
    if host.system == "linux":
        return parse_os_release(
            read_text(paths.os_release) or "", wsl="microsoft" in host.release.lower()
        )
    if host.system == "darwin":
        return OsInfo("darwin", "macos", host.mac_version, f"macOS {host.mac_version}".strip())
    return OsInfo(host.system, host.system, host.release, f"{host.system} {host.release}".strip())


def _whole_disk(entry: Path) -> str | None:
    try:
        resolved = entry.resolve(strict=True)
    except OSError:
        return None
    return resolved.parent.name if (resolved / "partition").exists() else resolved.name


def block_device(dev: int, sys_root: Path) -> str | None:
    """The whole disk under device number `dev` (a partition's parent; through LVM and
    dm-crypt to the first underlying disk), from `sys_root/dev/block/MAJ:MIN`."""
    name = _whole_disk(sys_root / "dev" / "block" / f"{os.major(dev)}:{os.minor(dev)}")
    for _ in range(4):  # dm-crypt on LVM on a partition is three hops
        slaves = sys_root / "block" / (name or "") / "slaves"
        children = sorted(p.name for p in slaves.iterdir()) if slaves.is_dir() else []
        if name is None or not children:
            break
        name = _whole_disk(sys_root / "class" / "block" / children[0])
    return name


def disk_info(path: Path, sys_root: Path | None) -> DiskInfo | None:
    """Free/total space where models are stored, and whether that disk is NVMe (Linux)."""
    try:
        usage = shutil.disk_usage(path)
        dev = os.stat(path).st_dev
    except OSError:
        return None
    device = block_device(dev, sys_root) if sys_root is not None else None
    disk = DiskInfo(str(path), usage.total / 1e9, usage.free / 1e9)
    if sys_root is None or device is None:
        return disk
    rotational = (read_text(sys_root / "block" / device / "queue" / "rotational") or "").strip()
    is_rotational = {"0": False, "1": True}.get(rotational)
    return replace(disk, device=device, is_nvme=device.startswith("nvme"), rotational=is_rotational)
