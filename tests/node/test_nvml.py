"""NVIDIA detection through NVML (node/nvml.py), with a stand-in for nvidia-ml-py's
`pynvml` module that keeps its API: `nvmlInit`/`nvmlShutdown`, device handles by index,
memory in bytes (`.total`, `.used`), `.gpu` utilization percent, the driver version as a
string (bytes in old bindings) and the CUDA driver version as an integer (12040 = 12.4)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from infernet.node.hardware import detect_hardware
from infernet.node.host import CompletedOutput, PlatformInfo
from infernet.node.nvml import cuda_version, probe_nvml
from tests.node.test_hardware import linux_paths

GIB = 1024**3
LINUX = PlatformInfo("linux", "6.5.0-35-generic")


class NVMLError(Exception):
    pass


class FakeNvml:
    NVMLError = NVMLError

    def __init__(self, cards: list[tuple[str | bytes, int]], init_fails: bool = False) -> None:
        self.cards, self.init_fails, self.open = cards, init_fails, False

    def nvmlInit(self) -> None:
        if self.init_fails:
            raise NVMLError("Driver Not Loaded")
        self.open = True

    def nvmlShutdown(self) -> None:
        self.open = False

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040

    def nvmlDeviceGetCount(self) -> int:
        return len(self.cards)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str | bytes:
        return self.cards[handle][0]

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(total=self.cards[handle][1], used=GIB, free=0)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=37, memory=5)


def no_tools(argv: object) -> CompletedOutput | None:
    return None  # nothing installed: nvidia-smi, rocm-smi, lspci all absent


def test_cuda_driver_version_integer_reads_as_cuda_writes_it() -> None:
    assert cuda_version(12040) == "12.4"
    assert cuda_version(11080) == "11.8"


def test_nvml_reports_each_card_with_memory_in_mib_and_closes_itself() -> None:
    nvml = FakeNvml(
        [("NVIDIA GeForce RTX 4090", 24564 * 1024 * 1024), (b"NVIDIA A10", 23028 * 1024 * 1024)]
    )
    probe = probe_nvml(nvml)
    assert probe is not None and probe.state == "ok"
    assert [(g.name, g.vram_total_mb, g.vram_used_mb) for g in probe.gpus] == [
        ("NVIDIA GeForce RTX 4090", 24564, 1024),
        ("NVIDIA A10", 23028, 1024),
    ]
    assert {(g.driver_version, g.cuda_version, g.utilization_pct) for g in probe.gpus} == {
        ("550.54.15", "12.4", 37.0)
    }
    assert not nvml.open


def test_nvml_that_cannot_start_leaves_detection_to_nvidia_smi() -> None:
    assert probe_nvml(FakeNvml([], init_fails=True)) is None


def test_the_tier_comes_from_nvml_without_running_nvidia_smi(tmp_path: Path) -> None:
    nvml = FakeNvml([("NVIDIA H100 80GB HBM3", 81559 * 1024 * 1024)])
    paths = linux_paths(tmp_path)
    report = detect_hardware(no_tools, host=LINUX, paths=paths, cpu_count=8, nvml=nvml)
    assert report.tier == ">=48gb"
    assert report.probes[0].detail == "read through NVML"
