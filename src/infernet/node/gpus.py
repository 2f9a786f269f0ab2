"""GPU detection: one probe per vendor tool, and parsers for what each tool prints.

Sources, as the Book names them: NVIDIA `nvidia-smi` (CSV query + the CUDA version from its
banner), AMD `rocm-smi --json` (+ `/opt/rocm/.info/version`), Apple
`system_profiler SPDisplaysDataType -json` with `sysctl -n hw.memsize` (unified memory
counts as VRAM), and `lspci -mm` to notice a GPU whose driver tools are missing. Parsers are
pure functions over text; probes go through an injected `CommandRunner` (see
`infernet.node.host`) and say whether a tool is absent, broken (e.g. the NVIDIA driver is
not loaded), sees no devices, or is ok. GPU memory is in MiB as the drivers report it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from infernet.node.host import (
    CommandRunner,
    HostPaths,
    PlatformInfo,
    memsize_bytes,
    parse_int,
    parse_number,
    read_text,
)

Vendor = Literal["nvidia", "amd", "apple"]
ProbeState = Literal["ok", "absent", "broken", "no_devices"]
GpuList = tuple["GpuInfo", ...]

_NVIDIA_FIELDS = "name,memory.total,memory.used,utilization.gpu,driver_version"
NVIDIA_QUERY = ("nvidia-smi", f"--query-gpu={_NVIDIA_FIELDS}", "--format=csv,noheader,nounits")
_ROCM_FLAGS = "--showproductname --showmeminfo vram --showdriverversion --json"
ROCM_QUERY = ("rocm-smi", *_ROCM_FLAGS.split())
APPLE_QUERY = ("system_profiler", "SPDisplaysDataType", "-json")


@dataclass(frozen=True, slots=True)
class GpuInfo:
    vendor: Vendor
    name: str
    vram_total_mb: int  # MiB as reported; Apple: unified memory
    vram_used_mb: int | None = None
    utilization_pct: float | None = None
    driver_version: str | None = None
    cuda_version: str | None = None
    rocm_version: str | None = None
    metal: str | None = None  # Apple: "Metal 3"

    @property
    def vram_total_gib(self) -> float:
        return self.vram_total_mb / 1024


@dataclass(frozen=True, slots=True)
class GpuProbe:
    """What one vendor's tool said: `absent` (not installed), `broken` (installed but
    failing, e.g. the NVIDIA driver is not loaded), `no_devices`, or `ok`."""

    vendor: Vendor
    state: ProbeState
    detail: str = ""
    gpus: tuple[GpuInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class PciGpu:
    """A display device seen on the PCI bus, whatever its driver state."""

    vendor: Literal["nvidia", "amd"]
    name: str


# --- parsers (pure) ----------------------------------------------------------------------


def _first_line(*texts: str) -> str:
    for text in texts:
        for line in text.splitlines():
            if line.strip():
                return line.strip()
    return ""


def parse_nvidia_csv(text: str, cuda_version: str | None = None) -> tuple[GpuInfo, ...]:
    """Rows of `NVIDIA_QUERY`: `name, memory.total, memory.used, utilization.gpu, driver`."""
    gpus: list[GpuInfo] = []
    for line in text.splitlines():
        fields = [part.strip() for part in line.rsplit(",", 4)]
        if len(fields) != 5:
            continue
        name, total, used, util, driver = fields
        gpu = GpuInfo("nvidia", name, parse_int(total) or 0, parse_int(used), parse_number(util))
        gpus.append(replace(gpu, driver_version=driver or None, cuda_version=cuda_version))
    return tuple(gpus)


def parse_cuda_version(banner: str) -> str | None:
    """`CUDA Version: 12.4` from the plain `nvidia-smi` banner."""
    match = re.search(r"CUDA Version:\s*([\d.]+)", banner)
    return match.group(1) if match else None


def _json_object(text: str) -> dict[str, object]:
    start = text.find("{")  # rocm-smi may print warnings before the JSON
    try:
        value: object = json.loads(text[start:]) if start >= 0 else None
    except json.JSONDecodeError:
        return {}
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _strings(value: object) -> dict[str, str]:
    """A JSON object's string fields, keys lower-cased (rocm-smi changes their case)."""
    if not isinstance(value, dict):
        return {}
    return {str(k).lower(): v for k, v in value.items() if isinstance(v, str)}


def _mib(byte_text: str | None) -> int | None:
    value = parse_number(byte_text) if byte_text is not None else None
    return None if value is None else int(value // (1024 * 1024))


def parse_rocm_smi_json(text: str, rocm_version: str | None = None) -> tuple[GpuInfo, ...]:
    """Output of `ROCM_QUERY`: `{"card0": {"Card series": ..., "VRAM Total Memory (B)": ...}}`."""
    data = _json_object(text)
    driver = _strings(data.get("system")).get("driver version")
    gpus: list[GpuInfo] = []
    for card_id in sorted(k for k in data if re.fullmatch(r"card\d+", k)):
        card = _strings(data[card_id])
        name = card.get("card series") or card.get("card model") or "AMD GPU"
        total = _mib(card.get("vram total memory (b)")) or 0
        gpu = GpuInfo("amd", name, total, _mib(card.get("vram total used memory (b)")))
        gpus.append(replace(gpu, driver_version=driver, rocm_version=rocm_version))
    return tuple(gpus)


def _metal(value: str | None) -> str | None:
    match = re.search(r"metal(\d+)", value or "", re.IGNORECASE)
    return f"Metal {match.group(1)}" if match else None


def parse_system_profiler(text: str, memsize_bytes: int) -> tuple[GpuInfo, ...]:
    """Apple Silicon GPUs in `system_profiler SPDisplaysDataType -json`; their VRAM is the
    machine's unified memory (`sysctl -n hw.memsize`)."""
    entries = _json_object(text).get("SPDisplaysDataType")
    gpus: list[GpuInfo] = []
    for entry in entries if isinstance(entries, list) else []:
        fields = _strings(entry)
        name = fields.get("sppci_model") or fields.get("_name") or ""
        vendor = fields.get("spdisplays_vendor", "") + fields.get("sppci_vendor", "")
        if "apple" not in vendor.lower() and not name.startswith("Apple"):
            continue  # an Intel Mac's GPU: not an Apple Silicon node
        metal = fields.get("spdisplays_mtlgpufamilysupport") or fields.get("spdisplays_metal")
        gpus.append(GpuInfo("apple", name, memsize_bytes // (1024 * 1024), metal=_metal(metal)))
    return tuple(gpus)


def parse_lspci(text: str) -> tuple[PciGpu, ...]:
    """NVIDIA/AMD display devices in `lspci -mm` (`01:00.0 "VGA compatible controller"
    "NVIDIA Corporation" "AD102 [GeForce RTX 4090]" ...`)."""
    found: list[PciGpu] = []
    for line in text.splitlines():
        fields = re.findall(r'"([^"]*)"', line)
        if len(fields) < 3 or not re.search(r"VGA|3D|Display", fields[0]):
            continue
        if "NVIDIA" in fields[1]:
            found.append(PciGpu("nvidia", fields[2]))
        elif "AMD" in fields[1] or "ATI" in fields[1]:
            found.append(PciGpu("amd", fields[2]))
    return tuple(found)


# --- probes (through the runner) ---------------------------------------------------------


def _probe(
    vendor: Vendor, run: CommandRunner, argv: Sequence[str], parse: Callable[[str], GpuList]
) -> GpuProbe:
    done = run(argv)
    if done is None:
        return GpuProbe(vendor, "absent", f"{argv[0]} is not installed")
    if done.returncode != 0:
        detail = _first_line(done.stdout, done.stderr) or f"{argv[0]} exited {done.returncode}"
        no_devices = re.search(r"no devices were found|no amd gpus", detail, re.IGNORECASE)
        return GpuProbe(vendor, "no_devices" if no_devices else "broken", detail)
    gpus = parse(done.stdout)
    return GpuProbe(vendor, "ok" if gpus else "no_devices", "", gpus)


def probe_nvidia(run: CommandRunner) -> GpuProbe:
    def parse(text: str) -> GpuList:
        banner = run(("nvidia-smi",))  # the CSV query cannot give the CUDA version
        return parse_nvidia_csv(text, parse_cuda_version(banner.stdout) if banner else None)

    return _probe("nvidia", run, NVIDIA_QUERY, parse)


def probe_amd(run: CommandRunner, rocm_version: str | None = None) -> GpuProbe:
    return _probe("amd", run, ROCM_QUERY, lambda text: parse_rocm_smi_json(text, rocm_version))


def probe_apple(run: CommandRunner) -> GpuProbe:
    memsize = memsize_bytes(run) or 0
    return _probe("apple", run, APPLE_QUERY, lambda text: parse_system_profiler(text, memsize))


def _rocm_version(path: Path) -> str | None:
    match = re.match(r"\s*(\d+(?:\.\d+)*)", read_text(path) or "")  # "6.0.2-115"
    return match.group(1) if match else None


def probe_gpus(
    run: CommandRunner, host: PlatformInfo, paths: HostPaths, nvidia: GpuProbe | None = None
) -> tuple[GpuProbe, ...]:
    """Every vendor's probe; `nvidia` is what NVML already found (skips nvidia-smi)."""
    if host.system == "darwin":
        return (probe_apple(run),)
    nvidia = nvidia if nvidia is not None else probe_nvidia(run)
    return nvidia, probe_amd(run, _rocm_version(paths.rocm_version))
