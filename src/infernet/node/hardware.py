"""Hardware detection (GPUs, RAM, CPU, OS, disk) and the node's VRAM tier.

Every probe goes through an injected `CommandRunner` (argv in, `CompletedOutput` out, None
when the tool is not installed) and injected file paths, so tests replay real tool output
and nothing here needs the hardware it describes. Sources, as the Book names them:
NVIDIA `nvidia-smi` (CSV query + the CUDA version from its banner), AMD `rocm-smi --json`
(+ `/opt/rocm/.info/version`), Apple `system_profiler SPDisplaysDataType -json` with
`sysctl -n hw.memsize` (unified memory counts as VRAM), `lspci -mm` to notice a GPU whose
driver tools are missing, `/proc/meminfo`, `/etc/os-release`, `/sys/block`.

Units: GPU memory in MiB as the drivers report it; RAM in GiB (RAM is sold in binary
sizes); disk in decimal GB (disks are sold in decimal sizes).

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

import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

from infernet.protocol.vram import TIER_DEFAULT_MODEL, Tier

Vendor = Literal["nvidia", "amd", "apple"]
ProbeState = Literal["ok", "absent", "broken", "no_devices"]
GpuList = tuple["GpuInfo", ...]

MARKETED_TOLERANCE = 0.93
TIER_SIZES_GB: dict[Tier, int] = {">=48gb": 48, ">=24gb": 24, ">=12gb": 12, ">=8gb": 8}
RECOMMENDED_BACKENDS: dict[Tier, tuple[str, ...]] = {
    ">=48gb": ("vllm", "sglang"),
    ">=24gb": ("ollama", "vllm"),
    ">=12gb": ("ollama", "llamacpp"),
    ">=8gb": ("ollama", "llamacpp"),
    "cpu": ("llamacpp", "ollama"),  # seed names none for cpu; Book 7: Apple/CPU -> llama.cpp
}
_NVIDIA_FIELDS = "name,memory.total,memory.used,utilization.gpu,driver_version"
NVIDIA_QUERY = ("nvidia-smi", f"--query-gpu={_NVIDIA_FIELDS}", "--format=csv,noheader,nounits")
_ROCM_FLAGS = "--showproductname --showmeminfo vram --showdriverversion --json"
ROCM_QUERY = ("rocm-smi", *_ROCM_FLAGS.split())
APPLE_QUERY = ("system_profiler", "SPDisplaysDataType", "-json")


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


# --- parsers (pure) ----------------------------------------------------------------------


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


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
        gpu = GpuInfo("nvidia", name, _int(total) or 0, _int(used), _number(util))
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


def _int(text: str) -> int | None:
    value = _number(text)
    return None if value is None else int(value)


def _mib(byte_text: str | None) -> int | None:
    value = _number(byte_text) if byte_text is not None else None
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


def _memsize_bytes(run: CommandRunner) -> int | None:
    done = run(("sysctl", "-n", "hw.memsize"))
    return _int(done.stdout) if done is not None and done.returncode == 0 else None


def probe_apple(run: CommandRunner) -> GpuProbe:
    memsize = _memsize_bytes(run) or 0
    return _probe("apple", run, APPLE_QUERY, lambda text: parse_system_profiler(text, memsize))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _rocm_version(path: Path) -> str | None:
    match = re.match(r"\s*(\d+(?:\.\d+)*)", _read(path) or "")  # "6.0.2-115"
    return match.group(1) if match else None


def probe_gpus(run: CommandRunner, host: PlatformInfo, paths: HostPaths) -> tuple[GpuProbe, ...]:
    if host.system == "darwin":
        return (probe_apple(run),)
    return probe_nvidia(run), probe_amd(run, _rocm_version(paths.rocm_version))


# --- RAM, OS, disk -----------------------------------------------------------------------


def _ram_gb(run: CommandRunner, host: PlatformInfo, paths: HostPaths) -> float | None:
    if host.system == "darwin":
        memsize = _memsize_bytes(run)
        return None if memsize is None else memsize / 1024**3
    return parse_meminfo_gb(_read(paths.meminfo) or "")


def os_info(host: PlatformInfo, paths: HostPaths) -> OsInfo:
    if host.system == "linux":
        return parse_os_release(
            _read(paths.os_release) or "", wsl="microsoft" in host.release.lower()
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
    rotational = (_read(sys_root / "block" / device / "queue" / "rotational") or "").strip()
    is_rotational = {"0": False, "1": True}.get(rotational)
    return replace(disk, device=device, is_nvme=device.startswith("nvme"), rotational=is_rotational)


# --- the whole report --------------------------------------------------------------------


def detect_hardware(
    run: CommandRunner | None = None,
    *,
    host: PlatformInfo | None = None,
    paths: HostPaths | None = None,
    cpu_count: int | None = None,
) -> HardwareReport:
    """Probe this machine (or the recorded one the arguments describe)."""
    run = run if run is not None else subprocess_runner()
    host = host if host is not None else PlatformInfo.current()
    paths = paths if paths is not None else HostPaths()
    probes = probe_gpus(run, host, paths)
    gpus = tuple(gpu for probe in probes for gpu in probe.gpus)
    pci: tuple[PciGpu, ...] = ()
    if host.system == "linux" and not gpus:
        listing = run(("lspci", "-mm"))
        pci = parse_lspci(listing.stdout) if listing is not None else ()
    return HardwareReport(
        gpus=gpus,
        probes=probes,
        tier=classify_tier(sum(gpu.vram_total_mb for gpu in gpus)),
        ram_total_gb=_ram_gb(run, host, paths),
        cpu_cores=cpu_count if cpu_count is not None else os.cpu_count() or 1,
        os=os_info(host, paths),
        disk=disk_info(paths.models_dir, paths.sys_root if host.system == "linux" else None),
        pci_gpus=pci,
    )
