"""Hardware detection and tiers, replaying recorded tool output (tests/fixtures/hardware)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infernet.node.gpus import (
    APPLE_QUERY,
    NVIDIA_QUERY,
    ROCM_QUERY,
    parse_cuda_version,
    parse_lspci,
    parse_nvidia_csv,
    parse_rocm_smi_json,
    parse_system_profiler,
    probe_amd,
    probe_apple,
    probe_nvidia,
)
from infernet.node.hardware import RECOMMENDED_BACKENDS, classify_tier, detect_hardware
from infernet.node.host import (
    CompletedOutput,
    HostPaths,
    PlatformInfo,
    block_device,
    disk_info,
    os_info,
    parse_meminfo_gb,
    parse_os_release,
    subprocess_runner,
)
from infernet.protocol.vram import TIERS

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hardware"
LINUX = PlatformInfo("linux", "6.5.0-35-generic")
MACOS = PlatformInfo("darwin", "23.4.0", "14.4.1")
MEMSIZE = ("sysctl", "-n", "hw.memsize")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def ok(name: str) -> CompletedOutput:
    return CompletedOutput(0, fixture(name))


class RecordedTools:
    """A command runner that answers from recordings; unknown programs are not installed."""

    def __init__(self, outputs: dict[tuple[str, ...], CompletedOutput]) -> None:
        self.outputs = outputs
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str]) -> CompletedOutput | None:
        self.calls.append(tuple(argv))
        return self.outputs.get(tuple(argv))


def nvidia(query: str, banner: str) -> RecordedTools:
    return RecordedTools({NVIDIA_QUERY: ok(query), ("nvidia-smi",): ok(banner)})


def linux_paths(tmp_path: Path, os_release: str = "os-release.ubuntu-22.04") -> HostPaths:
    return HostPaths(
        meminfo=FIXTURES / "meminfo.64gb.txt",
        os_release=FIXTURES / os_release,
        sys_root=tmp_path / "no-sysfs",
        rocm_version=FIXTURES / "rocm-version.5.7.1",
        models_dir=tmp_path,
    )


# --- NVIDIA -----------------------------------------------------------------------------


def test_one_rtx_4090_is_read_from_the_csv_query() -> None:
    (gpu,) = parse_nvidia_csv(fixture("nvidia-smi-query.rtx4090.csv"), "12.4")
    assert gpu.vendor == "nvidia"
    assert gpu.name == "NVIDIA GeForce RTX 4090"
    assert gpu.vram_total_mb == 24564
    assert gpu.vram_used_mb == 1311
    assert gpu.utilization_pct == 7.0
    assert gpu.driver_version == "550.54.14"
    assert gpu.cuda_version == "12.4"


def test_cuda_version_comes_from_the_nvidia_smi_banner() -> None:
    assert parse_cuda_version(fixture("nvidia-smi.rtx4090.txt")) == "12.4"
    assert parse_cuda_version(fixture("nvidia-smi.8x-h100.txt")) == "12.2"
    assert parse_cuda_version(fixture("nvidia-smi.cuda-11.8.txt")) == "11.8"
    assert parse_cuda_version("no banner here") is None


def test_memory_reported_as_not_available_does_not_break_parsing() -> None:
    (gpu,) = parse_nvidia_csv(fixture("nvidia-smi-query.unified-na.csv"))
    assert gpu.name == "NVIDIA GH200 480GB"
    assert gpu.vram_total_mb == 0
    assert gpu.vram_used_mb is None


def test_a_single_24_gb_card_reporting_24564_mib_is_in_the_24gb_tier() -> None:
    tools = nvidia("nvidia-smi-query.rtx4090.csv", "nvidia-smi.rtx4090.txt")
    probe = probe_nvidia(tools)
    assert probe.state == "ok"
    assert [g.cuda_version for g in probe.gpus] == ["12.4"]
    assert classify_tier(sum(g.vram_total_mb for g in probe.gpus)) == ">=24gb"


def test_two_rtx_4090s_are_each_reported_and_classified_by_combined_vram(tmp_path: Path) -> None:
    tools = nvidia("nvidia-smi-query.2x-rtx4090.csv", "nvidia-smi.rtx4090.txt")
    report = detect_hardware(tools, host=LINUX, paths=linux_paths(tmp_path), cpu_count=32)
    assert len(report.gpus) == 2
    assert report.vram_total_mb == 2 * 24564
    assert report.tier == ">=48gb"
    assert report.default_model == "qwen2.5:72b"


def test_eight_h100s_are_each_reported_with_driver_and_cuda(tmp_path: Path) -> None:
    tools = nvidia("nvidia-smi-query.8x-h100.csv", "nvidia-smi.8x-h100.txt")
    report = detect_hardware(tools, host=LINUX, paths=linux_paths(tmp_path), cpu_count=208)
    assert [g.name for g in report.gpus] == ["NVIDIA H100 80GB HBM3"] * 8
    assert {g.vram_total_mb for g in report.gpus} == {81559}
    assert {(g.driver_version, g.cuda_version) for g in report.gpus} == {("535.104.05", "12.2")}
    assert report.tier == ">=48gb"
    assert report.cpu_cores == 208


def test_a_driver_that_cannot_be_reached_is_a_broken_probe_not_a_missing_gpu() -> None:
    broken = CompletedOutput(9, fixture("nvidia-smi.driver-broken.txt"))
    probe = probe_nvidia(RecordedTools({NVIDIA_QUERY: broken, ("nvidia-smi",): broken}))
    assert probe.state == "broken"
    assert probe.detail.startswith("NVIDIA-SMI has failed because it couldn't communicate")
    assert probe.gpus == ()


def test_no_devices_found_is_not_a_broken_driver() -> None:
    tools = RecordedTools({NVIDIA_QUERY: CompletedOutput(6, fixture("nvidia-smi.no-devices.txt"))})
    assert probe_nvidia(tools).state == "no_devices"


def test_missing_nvidia_smi_is_absent() -> None:
    probe = probe_nvidia(RecordedTools({}))
    assert probe.state == "absent"
    assert "nvidia-smi" in probe.detail


# --- AMD --------------------------------------------------------------------------------


def test_rx_6800_is_read_from_rocm_smi_json_with_driver_and_rocm_version() -> None:
    (gpu,) = parse_rocm_smi_json(fixture("rocm-smi.rx6800.json"), "5.7.1")
    assert gpu.vendor == "amd"
    assert gpu.name == "Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]"
    assert gpu.vram_total_mb == 16368
    assert gpu.vram_used_mb == 1052
    assert gpu.driver_version == "6.2.4"
    assert gpu.rocm_version == "5.7.1"


def test_rocm_smi_warnings_before_the_json_and_capitalised_keys_are_tolerated() -> None:
    gpus = parse_rocm_smi_json(fixture("rocm-smi.2x-mi210-with-warning.json"))
    assert [g.name for g in gpus] == ["AMD Instinct MI210", "AMD Instinct MI210"]
    assert classify_tier(sum(g.vram_total_mb for g in gpus)) == ">=48gb"


def test_rocm_version_is_read_from_the_rocm_install(tmp_path: Path) -> None:
    tools = RecordedTools({ROCM_QUERY: ok("rocm-smi.rx6800.json")})
    report = detect_hardware(tools, host=LINUX, paths=linux_paths(tmp_path), cpu_count=16)
    assert [g.rocm_version for g in report.gpus] == ["5.7.1"]
    assert report.tier == ">=12gb"


def test_rocm_smi_without_the_amdgpu_driver_is_broken() -> None:
    failed = CompletedOutput(2, "", fixture("rocm-smi.driver-broken.txt"))
    probe = probe_amd(RecordedTools({ROCM_QUERY: failed}))
    assert probe.state == "broken"
    assert "amdgpu not found" in probe.detail


# --- Apple ------------------------------------------------------------------------------


def test_apple_m2_pro_unified_memory_counts_as_vram(tmp_path: Path) -> None:
    tools = RecordedTools(
        {APPLE_QUERY: ok("system_profiler.m2-pro.json"), MEMSIZE: ok("sysctl-hw.memsize.16gb")}
    )
    report = detect_hardware(tools, host=MACOS, paths=linux_paths(tmp_path), cpu_count=12)
    (gpu,) = report.gpus
    assert (gpu.vendor, gpu.name, gpu.vram_total_mb) == ("apple", "Apple M2 Pro", 16384)
    assert gpu.metal == "Metal 3"
    assert report.ram_total_gb == 16.0
    assert report.tier == ">=12gb"
    assert report.os.id == "macos"
    assert report.os.version_id == "14.4.1"


def test_an_intel_mac_has_no_apple_silicon_gpu() -> None:
    assert parse_system_profiler(fixture("system_profiler.intel-mac.json"), 2**34) == ()
    tools = RecordedTools({APPLE_QUERY: ok("system_profiler.intel-mac.json")})
    assert probe_apple(tools).state == "no_devices"


# --- no GPU -----------------------------------------------------------------------------


def test_no_vendor_tool_means_cpu_tier_and_lspci_is_asked_about_gpus(tmp_path: Path) -> None:
    tools = RecordedTools({("lspci", "-mm"): ok("lspci-mm.rtx4090-no-driver.txt")})
    report = detect_hardware(tools, host=LINUX, paths=linux_paths(tmp_path), cpu_count=8)
    assert report.gpus == ()
    assert report.tier == "cpu"
    assert [p.state for p in report.probes] == ["absent", "absent"]
    assert [(g.vendor, g.name) for g in report.pci_gpus] == [("nvidia", "AD102 [GeForce RTX 4090]")]


def test_lspci_is_not_run_when_a_vendor_tool_found_gpus(tmp_path: Path) -> None:
    tools = nvidia("nvidia-smi-query.rtx4090.csv", "nvidia-smi.rtx4090.txt")
    detect_hardware(tools, host=LINUX, paths=linux_paths(tmp_path), cpu_count=8)
    assert ("lspci", "-mm") not in tools.calls


def test_lspci_ignores_intel_graphics_and_non_display_devices() -> None:
    gpus = parse_lspci(fixture("lspci-mm.rtx4090-no-driver.txt"))
    assert len(gpus) == 1


# --- tiers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("card", "reported_mib", "tier"),
    [
        ("H100 80GB", 81559, ">=48gb"),
        ("A100 80GB", 81920, ">=48gb"),
        ("RTX 6000 Ada 48GB", 49140, ">=48gb"),
        ("L40S 48GB (ECC on)", 46068, ">=48gb"),
        ("RTX 4090 24GB", 24564, ">=24gb"),
        ("A10G 24GB (ECC on)", 23028, ">=24gb"),
        ("RTX 4080 16GB", 16376, ">=12gb"),
        ("RX 6800 16GB", 16368, ">=12gb"),
        ("T4 16GB", 15360, ">=12gb"),
        ("RTX 3080 12GB", 12288, ">=12gb"),
        ("A2000 12GB", 12282, ">=12gb"),
        ("RTX 2080 Ti 11GB", 11264, ">=8gb"),
        ("RTX 3080 10GB", 10240, ">=8gb"),
        ("RTX 4060 Ti 8GB", 8188, ">=8gb"),
        ("RTX 3070 8GB", 8192, ">=8gb"),
        ("GTX 1660 SUPER 6GB", 6144, "cpu"),
        ("no GPU", 0, "cpu"),
    ],
)
def test_tier_follows_the_size_the_card_is_sold_as(card: str, reported_mib: int, tier: str) -> None:
    assert classify_tier(reported_mib) == tier, card


@given(st.integers(min_value=0, max_value=2_000_000), st.integers(min_value=0, max_value=100_000))
def test_more_vram_never_gives_a_lower_tier(vram_mb: int, more_mb: int) -> None:
    assert TIERS.index(classify_tier(vram_mb + more_mb)) <= TIERS.index(classify_tier(vram_mb))


def test_a_gpu_under_8_gb_is_listed_but_the_node_is_cpu_tier(tmp_path: Path) -> None:
    tools = nvidia("nvidia-smi-query.gtx1660s-6gb.csv", "nvidia-smi.rtx4090.txt")
    report = detect_hardware(tools, host=LINUX, paths=linux_paths(tmp_path), cpu_count=8)
    assert len(report.gpus) == 1
    assert report.tier == "cpu"


def test_recommended_backends_per_tier_follow_the_seed() -> None:
    assert RECOMMENDED_BACKENDS[">=48gb"] == ("vllm", "sglang")
    assert RECOMMENDED_BACKENDS[">=24gb"][0] == "ollama"
    assert "vllm" in RECOMMENDED_BACKENDS[">=24gb"]
    assert RECOMMENDED_BACKENDS[">=12gb"] == ("ollama", "llamacpp")
    assert RECOMMENDED_BACKENDS[">=8gb"] == ("ollama", "llamacpp")


# --- RAM, OS, disk ----------------------------------------------------------------------


def test_ram_comes_from_proc_meminfo_in_gib() -> None:
    ram = parse_meminfo_gb(fixture("meminfo.64gb.txt"))
    assert ram is not None
    assert 62.7 < ram < 62.8
    assert parse_meminfo_gb("") is None


def test_os_release_gives_id_version_and_pretty_name() -> None:
    info = parse_os_release(fixture("os-release.ubuntu-22.04"))
    assert (info.system, info.id, info.version_id) == ("linux", "ubuntu", "22.04")
    assert info.pretty_name == "Ubuntu 22.04.4 LTS"
    assert info.id_like == ("debian",)
    assert parse_os_release(fixture("os-release.centos-stream-9")).id == "centos"


def test_wsl_is_recognised_from_the_kernel_release(tmp_path: Path) -> None:
    wsl = PlatformInfo("linux", "5.15.153.1-microsoft-standard-WSL2")
    assert os_info(wsl, linux_paths(tmp_path)).wsl is True
    assert os_info(LINUX, linux_paths(tmp_path)).wsl is False


def test_windows_and_macos_are_described_from_the_platform(tmp_path: Path) -> None:
    windows = os_info(PlatformInfo("windows", "10"), linux_paths(tmp_path))
    assert (windows.system, windows.id) == ("windows", "windows")
    assert os_info(MACOS, linux_paths(tmp_path)).pretty_name == "macOS 14.4.1"


def _sysfs_disk(sys_root: Path, disk: str, partition: str, rotational: str) -> Path:
    device_dir = sys_root / "devices" / "pci0000:00" / disk
    (device_dir / partition).mkdir(parents=True)
    (device_dir / partition / "partition").write_text("2\n")
    (sys_root / "block" / disk / "queue").mkdir(parents=True)
    (sys_root / "block" / disk / "queue" / "rotational").write_text(rotational + "\n")
    (sys_root / "class" / "block").mkdir(parents=True, exist_ok=True)
    (sys_root / "class" / "block" / partition).symlink_to(device_dir / partition)
    return device_dir / partition


def _dev_link(sys_root: Path, dev: int, target: Path) -> None:
    (sys_root / "dev" / "block").mkdir(parents=True, exist_ok=True)
    (sys_root / "dev" / "block" / f"{os.major(dev)}:{os.minor(dev)}").symlink_to(target)


def test_a_partition_on_an_nvme_disk_resolves_to_that_disk(tmp_path: Path) -> None:
    partition = _sysfs_disk(tmp_path, "nvme0n1", "nvme0n1p2", "0")
    _dev_link(tmp_path, os.makedev(259, 2), partition)
    assert block_device(os.makedev(259, 2), tmp_path) == "nvme0n1"


def test_lvm_on_nvme_is_followed_to_the_nvme_disk(tmp_path: Path) -> None:
    partition = _sysfs_disk(tmp_path, "nvme0n1", "nvme0n1p3", "0")
    dm = tmp_path / "devices" / "virtual" / "block" / "dm-0"
    dm.mkdir(parents=True)
    (tmp_path / "block" / "dm-0" / "slaves").mkdir(parents=True)
    (tmp_path / "block" / "dm-0" / "slaves" / "nvme0n1p3").symlink_to(partition)
    _dev_link(tmp_path, os.makedev(253, 0), dm)
    assert block_device(os.makedev(253, 0), tmp_path) == "nvme0n1"


def test_unknown_device_numbers_give_no_device(tmp_path: Path) -> None:
    assert block_device(os.makedev(8, 1), tmp_path) is None


def test_disk_info_reports_free_and_total_space_in_decimal_gb(tmp_path: Path) -> None:
    info = disk_info(tmp_path, None)
    assert info is not None
    assert 0 < info.free_gb <= info.total_gb
    assert info.is_nvme is None  # not looked up without a sysfs root
    assert disk_info(tmp_path / "missing", None) is None


# --- the real runner --------------------------------------------------------------------


def test_the_subprocess_runner_reports_a_missing_program_as_none() -> None:
    assert subprocess_runner()(["infernet-no-such-tool-xyz"]) is None


def test_the_subprocess_runner_returns_status_and_output() -> None:
    done = subprocess_runner()(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert done == CompletedOutput(3, "out\n", "err\n")


def test_the_subprocess_runner_gives_up_on_a_hung_tool() -> None:
    done = subprocess_runner(timeout_s=0.2)(["sleep", "5"])
    assert done is not None
    assert done.returncode == 124
