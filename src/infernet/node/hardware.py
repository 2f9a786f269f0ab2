"""The node's hardware report (GPUs, RAM, CPU, OS, disk) and its VRAM tier.

`detect_hardware` puts together what `infernet.node.gpus` (vendor tools: nvidia-smi,
rocm-smi, system_profiler, lspci) and `infernet.node.host` (RAM, OS, the models disk) find,
through an injected `CommandRunner` and injected paths, so tests replay recorded output.

Tier rule (the Book leaves the edges open):
- By combined VRAM across all GPUs (Book: "set to the combined VRAM tier"), no tier
  above `>=48gb`.
- Drivers report less than the marketed size (firmware and ECC reserve memory): a "24 GB"
  RTX 4090 reports 24564 MiB, an A10G 23028 MiB, a "48 GB" L40S 46068 MiB. A GPU therefore
  qualifies for the N GB tier when it reports at least 93 % of N GiB
  (`MARKETED_TOLERANCE`); no shipping card sits inside that margin below a tier (an 11 GB
  card is 92 % of 12, a 22 GB card 92 % of 24).
- 16 GB cards are `>=12gb`, whatever the vendor: the seed lists the RTX 4080 16GB there
  but the RX 6800 16GB (and 16 GB Apple M1 Pro) under `>=8gb`; one rule must win, and the
  tier names promise a memory size, which the router matches models against.
- GPUs under 8 GB (after the tolerance) give the `cpu` tier: they cannot hold the entry
  tier's 7B models, so the node must not be matched as a GPU node. They are still listed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from infernet.node.gpus import (
    GpuInfo,
    GpuProbe,
    PciGpu,
    parse_lspci,
    probe_gpus,
)
from infernet.node.host import (
    CommandRunner,
    DiskInfo,
    HostPaths,
    OsInfo,
    PlatformInfo,
    disk_info,
    os_info,
    ram_gb,
    subprocess_runner,
)
from infernet.node.nvml import load_nvml, probe_nvml
from infernet.protocol.tiers import TIER_SIZES_GB, Tier
from infernet.protocol.vram import TIER_DEFAULT_MODEL

MARKETED_TOLERANCE = 0.93
RECOMMENDED_BACKENDS: dict[Tier, tuple[str, ...]] = {
    ">=48gb": ("vllm", "sglang"),
    ">=24gb": ("ollama", "vllm"),
    ">=12gb": ("ollama", "llamacpp"),
    ">=8gb": ("ollama", "llamacpp"),
    "cpu": ("llamacpp", "ollama"),  # seed names none for cpu; Book 7: Apple/CPU -> llama.cpp
}


@dataclass(frozen=True, slots=True)
class HardwareReport:
    gpus: tuple[GpuInfo, ...]
    probes: tuple[GpuProbe, ...]
    tier: Tier
    ram_total_gb: float | None
    cpu_cores: int
    os: OsInfo
    disk: DiskInfo | None
    pci_gpus: tuple[PciGpu, ...] = ()

    @property
    def vram_total_mb(self) -> int:
        """Combined VRAM across all GPUs, MiB."""
        return sum(gpu.vram_total_mb for gpu in self.gpus)

    @property
    def vram_total_gib(self) -> float:
        return self.vram_total_mb / 1024

    @property
    def default_model(self) -> str:
        return TIER_DEFAULT_MODEL[self.tier]


# --- tiers -------------------------------------------------------------------------------


def at_least_marketed(reported_gib: float, marketed_gb: float) -> bool:
    """Whether a reported size (GiB) counts as a marketed size, allowing for what drivers
    and kernels reserve (`MARKETED_TOLERANCE`)."""
    return reported_gib >= marketed_gb * MARKETED_TOLERANCE


def classify_tier(total_vram_mb: int) -> Tier:
    """The tier for a combined VRAM figure in MiB (module docstring has the rule)."""
    for tier, size_gb in TIER_SIZES_GB.items():
        if at_least_marketed(total_vram_mb / 1024, size_gb):
            return tier
    return "cpu"


TierSource = Literal["hardware", "config"]


@dataclass(frozen=True, slots=True)
class TierChoice:
    """The tier a node runs as: the hardware's, unless `vram_tier` in the config pins one."""

    tier: Tier
    source: TierSource
    detected: Tier | None  # what the hardware says; None when it was not probed

    def describe(self) -> str:
        if self.source == "hardware":
            return self.tier
        if self.detected is None or self.detected == self.tier:
            return f"{self.tier} (vram_tier in the config)"
        return f"{self.tier} (vram_tier in the config; the hardware says {self.detected})"


def effective_tier(configured: Tier | None, report: HardwareReport | None) -> TierChoice:
    """The one rule `status`, `model recommend` and the heartbeat share: detected at each
    start, unless the operator set `vram_tier` explicitly (Book: settable for multi-GPU)."""
    detected = report.tier if report is not None else None
    if configured is not None:
        return TierChoice(configured, "config", detected)
    return TierChoice(detected or "cpu", "hardware", detected)


# --- the whole report --------------------------------------------------------------------


def detect_hardware(
    run: CommandRunner | None = None,
    *,
    host: PlatformInfo | None = None,
    paths: HostPaths | None = None,
    cpu_count: int | None = None,
    nvml: Any = None,
) -> HardwareReport:
    """Probe this machine (or the recorded one the arguments describe).

    On this machine (no `run` given) NVIDIA GPUs are read through NVML when nvidia-ml-py
    is installed; `nvml` passes a module with pynvml's API explicitly.
    """
    if run is None:
        run, nvml = subprocess_runner(), nvml if nvml is not None else load_nvml()
    host = host if host is not None else PlatformInfo.current()
    paths = paths if paths is not None else HostPaths()
    probes = probe_gpus(run, host, paths, probe_nvml(nvml) if nvml is not None else None)
    gpus = tuple(gpu for probe in probes for gpu in probe.gpus)
    pci: tuple[PciGpu, ...] = ()
    if host.system == "linux" and not gpus:
        listing = run(("lspci", "-mm"))
        pci = parse_lspci(listing.stdout) if listing is not None else ()
    return HardwareReport(
        gpus=gpus,
        probes=probes,
        tier=classify_tier(sum(gpu.vram_total_mb for gpu in gpus)),
        ram_total_gb=ram_gb(run, host, paths),
        cpu_cores=cpu_count if cpu_count is not None else os.cpu_count() or 1,
        os=os_info(host, paths),
        disk=disk_info(paths.models_dir, paths.sys_root if host.system == "linux" else None),
        pci_gpus=pci,
    )
