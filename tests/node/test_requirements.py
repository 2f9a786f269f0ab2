"""Requirement checks: the seed's requirement tables as pass/warn/fail with a hint."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from infernet.node.gpus import NVIDIA_QUERY, ROCM_QUERY, GpuInfo, GpuProbe, PciGpu
from infernet.node.hardware import HardwareReport, classify_tier, detect_hardware
from infernet.node.host import (
    CompletedOutput,
    DiskInfo,
    HostPaths,
    OsInfo,
    PlatformInfo,
    parse_os_release,
)
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
    run_checks,
)
from infernet.protocol.vram import Tier

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hardware"
UBUNTU = parse_os_release((FIXTURES / "os-release.ubuntu-22.04").read_text())
NVME_2TB = DiskInfo("/var/lib/infernet", 2000.4, 1500.0, "nvme0n1", True, False)


def rtx4090(cuda: str | None = "12.4") -> GpuInfo:
    return GpuInfo("nvidia", "NVIDIA GeForce RTX 4090", 24564, 1311, 7.0, "550.54.14", cuda)


def report(
    gpus: tuple[GpuInfo, ...] = (),
    *,
    ram: float | None = 125.7,
    disk: DiskInfo | None = NVME_2TB,
    probes: tuple[GpuProbe, ...] | None = None,
    pci: tuple[PciGpu, ...] = (),
    os: OsInfo = UBUNTU,
) -> HardwareReport:
    if probes is None:
        probes = (GpuProbe("nvidia", "ok" if gpus else "absent", "", gpus),)
    tier = classify_tier(sum(g.vram_total_mb for g in gpus))
    return HardwareReport(gpus, probes, tier, ram, 32, os, disk, pci)


def only(results: list[CheckResult], name: str) -> CheckResult:
    (found,) = [r for r in results if r.name == name]
    return found


def os_from(fixture: str) -> OsInfo:
    return parse_os_release((FIXTURES / fixture).read_text())


# --- RAM --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier_gpus", "ram_gib", "status"),
    [
        (">=48gb", 125.7, "pass"),  # a 128 GB machine as the kernel reports it
        (">=48gb", 62.8, "warn"),  # 64 GB: the minimum, under the 128 GB recommended
        (">=48gb", 31.3, "fail"),
        (">=24gb", 62.8, "pass"),
        (">=24gb", 31.3, "warn"),
        (">=24gb", 15.6, "fail"),
        ("cpu", 31.3, "pass"),
        ("cpu", 15.6, "warn"),
        ("cpu", 7.7, "fail"),
    ],
)
def test_ram_below_the_tier_minimum_fails_and_below_recommended_warns(
    tier_gpus: Tier, ram_gib: float, status: str
) -> None:
    gpus = {">=48gb": (rtx4090(), rtx4090()), ">=24gb": (rtx4090(),), "cpu": ()}[tier_gpus]
    result = check_ram(report(gpus, ram=ram_gib))
    assert result.status == status
    if status != "pass":
        assert result.hint


def test_ram_the_tool_could_not_read_is_a_warning_not_a_pass() -> None:
    assert check_ram(report(ram=None)).status == "warn"


# --- disk -------------------------------------------------------------------------------


def test_under_20_gb_free_fails_with_the_doctor_wording() -> None:
    result = check_disk_free(replace(NVME_2TB, free_gb=2.0))
    assert result.status == "fail"
    assert result.detail == "2 GB free (minimum 20 GB recommended)"
    assert result.name == "Disk space"
    assert check_disk_free(replace(NVME_2TB, free_gb=21.0)).status == "pass"


@pytest.mark.parametrize(
    ("tier", "total_gb", "status"),
    [
        (">=48gb", 1000.2, "pass"),
        (">=48gb", 512.1, "warn"),
        (">=24gb", 500.1, "pass"),
        (">=24gb", 256.0, "warn"),
        (">=12gb", 250.1, "pass"),
        ("cpu", 128.0, "warn"),
    ],
)
def test_disk_size_follows_the_tier_recommendation(
    tier: Tier, total_gb: float, status: str
) -> None:
    assert check_disk_size(replace(NVME_2TB, total_gb=total_gb), tier).status == status


def test_a_disk_that_is_not_nvme_warns_and_says_why() -> None:
    sata = DiskInfo("/data", 1000.0, 800.0, "sda", False, False)
    hdd = DiskInfo("/data", 4000.0, 3800.0, "sdb", False, True)
    assert check_nvme(NVME_2TB).status == "pass"
    assert check_nvme(sata).status == "warn"
    assert "spinning" in check_nvme(hdd).detail
    assert "NVMe" in check_nvme(hdd).hint


def test_an_unknown_storage_type_is_a_warning_with_a_way_to_check() -> None:
    result = check_nvme(replace(NVME_2TB, device=None, is_nvme=None))
    assert result.status == "warn"
    assert "lsblk" in result.hint


# --- OS ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "status"),
    [
        ("os-release.ubuntu-22.04", "pass"),
        ("os-release.debian-12", "pass"),
        ("os-release.fedora-39", "pass"),
        ("os-release.centos-stream-9", "pass"),
        ("os-release.linuxmint-21", "pass"),
        ("os-release.ubuntu-20.04", "warn"),
        ("os-release.arch", "warn"),
        ("os-release.debian-10", "fail"),
        ("os-release.fedora-36", "fail"),
    ],
)
def test_linux_distributions_are_judged_by_the_supported_list(fixture: str, status: str) -> None:
    assert check_os(os_from(fixture)).status == status


def test_ubuntu_lts_is_the_recommended_os() -> None:
    assert check_os(UBUNTU).detail == "Ubuntu 22.04.4 LTS (recommended)"
    noble = replace(UBUNTU, version_id="24.04", pretty_name="Ubuntu 24.04 LTS")
    assert check_os(noble).status == "pass"


def test_windows_fails_and_points_to_wsl2() -> None:
    result = check_os(OsInfo("windows", "windows", "10", "Windows 10"))
    assert result.status == "fail"
    assert "WSL2" in result.hint


def test_wsl2_and_macos_are_for_testing_and_development() -> None:
    assert check_os(replace(UBUNTU, wsl=True)).status == "warn"
    macos = check_os(OsInfo("darwin", "macos", "14.4.1", "macOS 14.4.1"))
    assert macos.status == "warn"
    assert "development" in macos.detail


# --- GPU drivers ------------------------------------------------------------------------


def test_a_working_nvidia_driver_passes_and_names_the_gpus() -> None:
    (result,) = check_gpu_drivers(report((rtx4090(), rtx4090())))
    assert result.status == "pass"
    assert "2x NVIDIA GeForce RTX 4090 (24 GB)" in result.detail
    assert "550.54.14" in result.detail


def test_a_broken_nvidia_driver_fails_with_the_tool_message_and_the_check_command(
    tmp_path: Path,
) -> None:
    broken = CompletedOutput(9, (FIXTURES / "nvidia-smi.driver-broken.txt").read_text())
    tools = {NVIDIA_QUERY: broken, ("nvidia-smi",): broken}
    paths = HostPaths(
        FIXTURES / "meminfo.64gb.txt",
        FIXTURES / "os-release.ubuntu-22.04",
        tmp_path,
        tmp_path / "none",
        tmp_path,
    )
    detected = detect_hardware(tools.get, host=PlatformInfo("linux"), paths=paths, cpu_count=8)
    result = only(run_checks(detected), "GPU driver (nvidia)")
    assert result.status == "fail"
    assert "couldn't communicate with the NVIDIA driver" in result.detail
    assert "`nvidia-smi`" in result.hint


def test_a_gpu_on_the_bus_without_its_driver_tool_is_reported_as_missing_drivers() -> None:
    pci = (PciGpu("nvidia", "AD102 [GeForce RTX 4090]"),)
    (result,) = check_gpu_drivers(report(pci=pci))
    assert result.status == "fail"
    assert "AD102 [GeForce RTX 4090]" in result.detail
    assert "`nvidia-smi`" in result.hint


def test_an_amd_gpu_without_rocm_smi_warns_with_the_amd_check_command() -> None:
    (result,) = check_gpu_drivers(report(pci=(PciGpu("amd", "Navi 21"),)))
    assert result.status == "warn"
    assert "`rocm-smi`" in result.hint


def test_no_gpu_at_all_warns_and_gives_every_vendor_check_command() -> None:
    (result,) = check_gpu_drivers(report())
    assert result.status == "warn"
    assert "cpu tier" in result.detail
    for command in ("nvidia-smi", "rocm-smi", 'system_profiler SPDisplaysDataType | grep "Metal"'):
        assert command in result.hint


def test_a_gpu_under_8_gb_warns_that_the_node_is_cpu_tier() -> None:
    small = GpuInfo("nvidia", "NVIDIA GeForce GTX 1660 SUPER", 6144, driver_version="535")
    results = check_gpu_drivers(report((small,)))
    assert [r.status for r in results] == ["pass", "warn"]
    assert "cpu tier" in results[1].detail


def test_apple_silicon_with_metal_passes() -> None:
    m2 = GpuInfo("apple", "Apple M2 Pro", 16384, metal="Metal 3")
    (result,) = check_gpu_drivers(report((m2,), probes=(GpuProbe("apple", "ok", "", (m2,)),)))
    assert result.status == "pass"
    assert "Metal 3" in result.detail


# --- CUDA and ROCm ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "cuda", "status"),
    [
        ("vllm", "12.4", "pass"),
        ("sglang", "12.1", "pass"),
        ("vllm", "11.8", "fail"),
        ("sglang", "12.0", "fail"),
        ("vllm", None, "warn"),
        ("max", "12.0", "pass"),
    ],
)
def test_vllm_and_sglang_need_cuda_12_1(backend: str, cuda: str | None, status: str) -> None:
    result = check_cuda(report((rtx4090(cuda),)), backend)
    assert result is not None
    assert result.status == status


def test_ollama_and_llamacpp_have_no_cuda_requirement() -> None:
    assert check_cuda(report((rtx4090("11.8"),)), "ollama") is None
    assert check_cuda(report((rtx4090("11.8"),)), "llamacpp") is None
    assert check_cuda(report((rtx4090("11.8"),)), None) is None


def test_vllm_without_an_nvidia_gpu_warns() -> None:
    result = check_cuda(report(), "vllm")
    assert result is not None
    assert result.status == "warn"


@pytest.mark.parametrize(
    ("rocm", "status"), [("5.7.1", "pass"), ("6.2", "pass"), ("5.4.3", "fail"), (None, "warn")]
)
def test_amd_gpus_need_rocm_5_7(rocm: str | None, status: str) -> None:
    rx6800 = GpuInfo("amd", "Radeon RX 6800", 16368, rocm_version=rocm)
    result = check_rocm(report((rx6800,)))
    assert result is not None
    assert result.status == status


def test_rocm_is_not_checked_without_amd_gpus() -> None:
    assert check_rocm(report((rtx4090(),))) is None


def test_rocm_version_flows_from_the_install_file_into_the_check(tmp_path: Path) -> None:
    tools = {ROCM_QUERY: CompletedOutput(0, (FIXTURES / "rocm-smi.rx6800.json").read_text())}
    paths = HostPaths(
        FIXTURES / "meminfo.64gb.txt",
        FIXTURES / "os-release.ubuntu-22.04",
        tmp_path,
        FIXTURES / "rocm-version.5.4.3",
        tmp_path,
    )
    detected = detect_hardware(tools.get, host=PlatformInfo("linux"), paths=paths, cpu_count=8)
    assert only(run_checks(detected), "ROCm version").status == "fail"


# --- latency and the whole run ----------------------------------------------------------


def test_upload_latency_over_100_ms_warns() -> None:
    assert check_upload_latency(39.0).status == "pass"
    assert check_upload_latency(100.0).status == "pass"
    slow = check_upload_latency(180.0)
    assert slow.status == "warn"
    assert "datacenter" in slow.hint


def test_run_checks_covers_every_requirement_and_only_measured_latency() -> None:
    names = [r.name for r in run_checks(report((rtx4090(),)), backend="vllm", latency_ms=42)]
    assert names == [
        "Operating system",
        "GPU driver (nvidia)",
        "CUDA version",
        "RAM",
        "Disk space",
        "Disk size",
        "NVMe storage",
        "Upload latency",
    ]
    assert "Upload latency" not in [r.name for r in run_checks(report((rtx4090(),)))]


def test_a_well_equipped_24gb_node_passes_everything() -> None:
    results = run_checks(report((rtx4090(),), ram=62.8), backend="ollama", latency_ms=30)
    assert {r.status for r in results} == {"pass"}


def test_every_warning_and_failure_tells_the_operator_what_to_do() -> None:
    bad = report(
        ram=7.7,
        disk=DiskInfo("/", 100.0, 2.0, "sda", False, True),
        os=OsInfo("windows", "windows", "10", "Windows 10"),
    )
    results = run_checks(bad, backend="vllm", latency_ms=250)
    assert {r.status for r in results} >= {"warn", "fail"}
    assert all(r.hint.endswith(".") for r in results if r.status != "pass")
