"""Node requirement checks: the Book's requirements page turned into pass/warn/fail results.

Every check is a pure function over a `HardwareReport` (plus what the caller measured or
configured: the backend name, an upload latency) and returns `CheckResult`s whose `hint`
tells the operator what to do. No check does I/O, so `infernet setup`, `infernet doctor`
and tests share them. Sources: seed "node requirements" (RAM and disk per tier, NVMe, OS
list, drivers, CUDA 12.1+ for vLLM/SGLang, ROCm 5.7+, latency over 100 ms) and Book 8.3
(doctor fails under 20 GB free disk).

Decisions:
- RAM below the tier's minimum fails, below its recommended size warns. Sizes are
  compared as marketed sizes (`at_least_marketed`): a 64 GB machine shows ~62.8 GiB.
- Disk capacity under the tier's recommendation, or a disk that is not NVMe, warns (the
  seed calls them recommendations); under 20 GB free fails (doctor).
- OS: Ubuntu 22.04/24.04 pass; the other supported systems (Debian 11+, Debian-based
  distros, Fedora 38+, CentOS Stream 9) pass with a note; older releases of those fail;
  other Linux, other Ubuntu releases, WSL2 and macOS warn; Windows fails.
- Bandwidth (100 Mbps symmetric) cannot be measured offline, so no check claims it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from infernet.node.gpus import GpuProbe, Vendor
from infernet.node.hardware import (
    HardwareReport,
    at_least_marketed,
)
from infernet.node.host import DiskInfo, OsInfo
from infernet.protocol.tiers import Tier

Status = Literal["pass", "warn", "fail"]

RAM_GB: dict[Tier, tuple[int, int]] = {  # (minimum, recommended)
    ">=48gb": (64, 128),
    ">=24gb": (32, 64),
    ">=12gb": (16, 32),
    ">=8gb": (16, 32),
    "cpu": (16, 32),
}
DISK_GB: dict[Tier, int] = {">=48gb": 1000, ">=24gb": 500, ">=12gb": 250, ">=8gb": 250, "cpu": 250}
MIN_FREE_DISK_GB = 20
MAX_UPLOAD_LATENCY_MS = 100.0
CUDA_MINIMUM: dict[str, tuple[int, int]] = {"vllm": (12, 1), "sglang": (12, 1), "max": (12, 0)}
ROCM_MINIMUM = (5, 7)
DRIVER_CHECK = {
    "nvidia": "nvidia-smi",
    "amd": "rocm-smi",
    "apple": 'system_profiler SPDisplaysDataType | grep "Metal"',
}
_NO_GPU_HINT = (
    "If this machine has a GPU, install its driver and check it with `nvidia-smi` (NVIDIA), "
    '`rocm-smi` (AMD) or `system_profiler SPDisplaysDataType | grep "Metal"` (Apple Silicon).'
)


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    hint: str = ""  # what to do; empty when there is nothing to do


def _version(text: str | None) -> tuple[int, ...] | None:
    parts = (text or "").split(".")
    if not parts[0].isdigit():
        return None
    return tuple(int(p) for p in parts if p.isdigit())


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in version)


def check_ram(report: HardwareReport) -> CheckResult:
    minimum, recommended = RAM_GB[report.tier]
    ram = report.ram_total_gb
    if ram is None:
        return CheckResult(
            "RAM",
            "warn",
            "could not read the amount of system memory",
            f"Make sure the machine has at least {minimum} GB of RAM.",
        )
    need = f"the {report.tier} tier needs {minimum} GB, {recommended} GB recommended"
    detail = f"{ram:.0f} GB ({need})"
    if not at_least_marketed(ram, minimum):
        return CheckResult("RAM", "fail", detail, f"Add memory: at least {minimum} GB.")
    if not at_least_marketed(ram, recommended):
        hint = f"Consider {recommended} GB: vLLM and SGLang use spare RAM for KV-cache spill."
        return CheckResult("RAM", "warn", detail, hint)
    return CheckResult("RAM", "pass", detail)


def check_disk_free(disk: DiskInfo | None) -> CheckResult:
    if disk is None:
        return CheckResult(
            "Disk space",
            "warn",
            "could not read free disk space",
            "Check that the model directory exists and is readable.",
        )
    detail = f"{disk.free_gb:.0f} GB free (minimum {MIN_FREE_DISK_GB} GB recommended)"
    if disk.free_gb < MIN_FREE_DISK_GB:
        hint = f"Free space on {disk.path} or move model storage to a larger disk."
        return CheckResult("Disk space", "fail", detail, hint)
    return CheckResult("Disk space", "pass", f"{disk.free_gb:.0f} GB free")


def check_disk_size(disk: DiskInfo | None, tier: Tier) -> CheckResult:
    recommended = DISK_GB[tier]
    if disk is None:
        return CheckResult(
            "Disk size",
            "warn",
            "could not read disk size",
            f"The {tier} tier should have {recommended} GB of NVMe storage.",
        )
    detail = f"{disk.total_gb:.0f} GB ({tier} tier: {recommended} GB recommended)"
    if not at_least_marketed(disk.total_gb, recommended):
        hint = f"Model weights need room: use a disk of at least {recommended} GB."
        return CheckResult("Disk size", "warn", detail, hint)
    return CheckResult("Disk size", "pass", detail)


def check_nvme(disk: DiskInfo | None) -> CheckResult:
    hint = "Store model weights on an NVMe SSD: cold starts load much faster than from HDD/SATA."
    if disk is None or disk.is_nvme is None:
        return CheckResult(
            "NVMe storage",
            "warn",
            "could not tell the storage type",
            f"{hint} Check with `lsblk -d -o NAME,ROTA,TRAN`.",
        )
    if disk.is_nvme:
        return CheckResult("NVMe storage", "pass", f"models on {disk.device} (NVMe)")
    kind = "a spinning disk" if disk.rotational else "a non-NVMe disk"
    return CheckResult("NVMe storage", "warn", f"models on {disk.device}, {kind}", hint)


_SUPPORTED_MIN = {"debian": (11,), "fedora": (38,), "centos": (9,)}


def check_os(os: OsInfo) -> CheckResult:
    name, version = os.pretty_name, _version(os.version_id)
    if os.system == "windows":
        return CheckResult(
            "Operating system",
            "fail",
            f"{name} is not supported",
            "Run the node on Linux; to test on Windows, use WSL2.",
        )
    if os.system == "darwin":
        return CheckResult(
            "Operating system",
            "warn",
            f"{name}: supported for development and Apple Silicon nodes",
            "For production beyond small nodes, use Ubuntu 22.04 or 24.04 LTS.",
        )
    if os.wsl:
        return CheckResult(
            "Operating system",
            "warn",
            f"{name} under WSL2: for testing only",
            "For production, run on Ubuntu 22.04 or 24.04 LTS directly.",
        )
    if os.id == "ubuntu" and os.version_id in ("22.04", "24.04"):
        return CheckResult("Operating system", "pass", f"{name} (recommended)")
    if os.id in _SUPPORTED_MIN and version is not None:
        if version >= _SUPPORTED_MIN[os.id]:
            return CheckResult(
                "Operating system",
                "pass",
                f"{name} (supported)",
                "Ubuntu 22.04/24.04 LTS is the most tested.",
            )
        floor = _dotted(_SUPPORTED_MIN[os.id])
        return CheckResult(
            "Operating system",
            "fail",
            f"{name} is too old",
            f"Upgrade to {os.id} {floor} or later, or Ubuntu 22.04/24.04 LTS.",
        )
    if os.id != "ubuntu" and "debian" in os.id_like:
        return CheckResult(
            "Operating system",
            "pass",
            f"{name} (Debian-based, supported)",
            "Ubuntu 22.04/24.04 LTS is the most tested.",
        )
    return CheckResult(
        "Operating system",
        "warn",
        f"{name} is not on the tested list",
        "Ubuntu 22.04 or 24.04 LTS is recommended; Debian 11+, Fedora 38+ and "
        "CentOS Stream 9 are supported.",
    )


def _probe_result(probe: GpuProbe) -> CheckResult | None:
    label, tool = f"GPU driver ({probe.vendor})", DRIVER_CHECK[probe.vendor]
    if probe.state == "broken":
        return CheckResult(
            label,
            "fail",
            f"{tool.split()[0]} failed: {probe.detail}",
            f"Reinstall or reload the {probe.vendor.upper()} driver (after a kernel "
            f"update a reboot often fixes it), then check with `{tool}`.",
        )
    if probe.state != "ok":
        return None
    versions = {gpu.driver_version or gpu.metal or "" for gpu in probe.gpus} - {""}
    names = ", ".join(sorted({f"{gpu.name} ({gpu.vram_total_gib:.0f} GB)" for gpu in probe.gpus}))
    driver = f", driver {', '.join(sorted(versions))}" if versions else ""
    return CheckResult(label, "pass", f"{len(probe.gpus)}x {names}{driver}")


def _missing_driver(vendor: Vendor, names: list[str]) -> CheckResult:
    tool = DRIVER_CHECK[vendor]
    status: Status = "fail" if vendor == "nvidia" else "warn"  # an AMD one may be an APU
    return CheckResult(
        f"GPU driver ({vendor})",
        status,
        f"GPU on the PCI bus ({', '.join(names)}) but `{tool}` is not installed",
        f"Install the {vendor.upper()} driver before `infernet setup`, then "
        f"check it with `{tool}`.",
    )


def check_gpu_drivers(report: HardwareReport) -> list[CheckResult]:
    """One result per vendor tool that found or failed on something, plus missing drivers
    for GPUs seen on the PCI bus, or a single warning when there is no GPU at all."""
    results = [r for r in map(_probe_result, report.probes) if r is not None]
    for vendor in ("nvidia", "amd"):
        names = [gpu.name for gpu in report.pci_gpus if gpu.vendor == vendor]
        if names:
            results.append(_missing_driver(vendor, names))
    if not results:
        detail = "no GPU detected: the node runs in the cpu tier (development, small models)"
        results.append(CheckResult("GPU", "warn", detail, _NO_GPU_HINT))
    elif report.gpus and report.tier == "cpu":
        detail = f"{report.vram_total_gib:.1f} GB of VRAM is under the 8 GB entry tier: cpu tier"
        hint = "Serve small models, or add a GPU with 8 GB or more."
        results.append(CheckResult("GPU", "warn", detail, hint))
    return results


def check_cuda(report: HardwareReport, backend: str | None) -> CheckResult | None:
    """CUDA 12.1+ for vLLM and SGLang (12+ for MAX); Ollama manages its own CUDA."""
    minimum = CUDA_MINIMUM.get((backend or "").lower())
    if minimum is None:
        return None
    nvidia = [gpu for gpu in report.gpus if gpu.vendor == "nvidia"]
    need = f"{backend} needs an NVIDIA GPU with CUDA {_dotted(minimum)}+"
    if not nvidia:
        return CheckResult(
            "CUDA version",
            "warn",
            f"no NVIDIA GPU; {need}",
            "Use Ollama or llama.cpp on this machine.",
        )
    found = _version(nvidia[0].cuda_version)
    if found is None:
        return CheckResult(
            "CUDA version",
            "warn",
            f"could not read the CUDA version; {need}",
            "Check the `CUDA Version` shown by `nvidia-smi`.",
        )
    if found < minimum:
        return CheckResult(
            "CUDA version",
            "fail",
            f"CUDA {nvidia[0].cuda_version}; {need}",
            "Install the latest stable NVIDIA driver from developer.nvidia.com.",
        )
    return CheckResult("CUDA version", "pass", f"CUDA {nvidia[0].cuda_version}")


def check_rocm(report: HardwareReport) -> CheckResult | None:
    amd = [gpu for gpu in report.gpus if gpu.vendor == "amd"]
    if not amd:
        return None
    found, floor = _version(amd[0].rocm_version), _dotted(ROCM_MINIMUM)
    if found is None:
        return CheckResult(
            "ROCm version",
            "warn",
            "could not read the ROCm version",
            f"Install ROCm {floor}+ with the official ROCm installer.",
        )
    if found < ROCM_MINIMUM:
        return CheckResult(
            "ROCm version",
            "fail",
            f"ROCm {amd[0].rocm_version}; {floor}+ needed",
            f"Upgrade to ROCm {floor}+ with the official ROCm installer.",
        )
    return CheckResult("ROCm version", "pass", f"ROCm {amd[0].rocm_version}")


def check_upload_latency(latency_ms: float) -> CheckResult:
    """Judge a round trip to the control plane the caller measured."""
    detail = f"{latency_ms:.0f} ms to the control plane"
    if latency_ms > MAX_UPLOAD_LATENCY_MS:
        return CheckResult(
            "Upload latency",
            "warn",
            detail,
            "Over 100 ms degrades streaming; prefer a datacenter connection, "
            "especially for the >=24gb tier and above.",
        )
    return CheckResult("Upload latency", "pass", detail)


def run_checks(
    report: HardwareReport, *, backend: str | None = None, latency_ms: float | None = None
) -> list[CheckResult]:
    """All requirement checks, in the order `infernet setup` and `doctor` show them."""
    results = [check_os(report.os), *check_gpu_drivers(report)]
    results += [r for r in (check_cuda(report, backend), check_rocm(report)) if r is not None]
    results += [check_ram(report), check_disk_free(report.disk)]
    results += [check_disk_size(report.disk, report.tier), check_nvme(report.disk)]
    if latency_ms is not None:
        results.append(check_upload_latency(latency_ms))
    return results
