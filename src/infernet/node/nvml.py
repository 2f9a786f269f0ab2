"""NVIDIA GPUs through NVML (`nvidia-ml-py`, imported as `pynvml`) when it is installed.

NVML is the library `nvidia-smi` itself reads: asking it directly costs no process spawn
and no text parsing, and it answers the same facts (name, total/used memory, utilization,
driver and CUDA driver version). It is optional: without `nvidia-ml-py`, or when NVML
fails to initialise (no driver loaded), detection falls back to `nvidia-smi`
(`gpus.probe_nvidia`), which also explains what is wrong.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from infernet.node.gpus import GpuInfo, GpuProbe

MIB = 1024 * 1024


def load_nvml() -> ModuleType | None:
    """The `pynvml` module of nvidia-ml-py, or None when it is not installed."""
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        return None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value  # old bindings: bytes


def cuda_version(encoded: int) -> str:
    """NVML's CUDA driver version integer (12040) as CUDA writes it ("12.4")."""
    return f"{encoded // 1000}.{encoded % 1000 // 10}"


def _gpu(nvml: Any, index: int, driver: str, cuda: str | None) -> GpuInfo:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    try:
        utilization: float | None = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except nvml.NVMLError:  # not supported on some boards
        utilization = None
    return GpuInfo(
        "nvidia",
        _text(nvml.nvmlDeviceGetName(handle)),
        memory.total // MIB,
        memory.used // MIB,
        utilization,
        driver_version=driver,
        cuda_version=cuda,
    )


def probe_nvml(nvml: Any) -> GpuProbe | None:
    """The NVIDIA GPUs NVML sees; None when NVML cannot answer (use nvidia-smi instead)."""
    try:
        nvml.nvmlInit()
    except nvml.NVMLError:
        return None
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        cuda = cuda_version(nvml.nvmlSystemGetCudaDriverVersion())
        count = nvml.nvmlDeviceGetCount()
        gpus = tuple(_gpu(nvml, index, driver, cuda) for index in range(count))
    except nvml.NVMLError:
        return None
    finally:
        nvml.nvmlShutdown()
    return GpuProbe("nvidia", "ok" if gpus else "no_devices", "read through NVML", gpus)
