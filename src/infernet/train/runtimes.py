"""Which trainer runs a fine-tune (`runtime`), and whether this machine can run it.

- `trl`: TRL's SFTTrainer with a PEFT LoRA adapter; runs on CPU or one GPU. Built in.
- `unsloth`: Unsloth's patched loader and LoRA, then the same TRL trainer; NVIDIA GPU only.
- `axolotl`: detected, but this build does not drive it yet (it says so).

`method: qlora` loads the base in 4 bits with bitsandbytes, which needs an NVIDIA GPU.
"""

from __future__ import annotations

import importlib.util
import shutil

from infernet.train.config import TrainConfig
from infernet.train.errors import (
    MissingDependency,
    RunError,
    TrainConfigError,
    require_train_extra,
)

INSTALL = {
    "unsloth": "pip install unsloth (needs an NVIDIA GPU)",
    "axolotl": "pip install axolotl (needs an NVIDIA GPU)",
}


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def gpu_memory_gb() -> float:
    """Combined memory of the visible CUDA GPUs (0 without one)."""
    import torch

    if not torch.cuda.is_available():
        return 0.0
    total = sum(
        torch.cuda.get_device_properties(i).total_memory for i in range(torch.cuda.device_count())
    )
    return float(total) / 1e9


def check_resources(config: TrainConfig) -> None:
    need = config.resources.min_vram_gb
    have = gpu_memory_gb() if need > 0 else 0.0
    if need > 0 and have < need:
        raise RunError(
            f"resources.min_vram_gb is {need:g} and this machine has {have:.1f} GB of GPU "
            "memory: run it on a bigger GPU, or lower the setting (0 trains on the CPU)"
        )


def check_runtime(config: TrainConfig) -> None:
    """Raise with what to install or change when `config` cannot run here."""
    require_train_extra()
    runtime = config.runtime
    if runtime == "unsloth" and not _installed("unsloth"):
        raise MissingDependency(
            f"runtime: unsloth is not installed ({INSTALL['unsloth']}); "
            "or set runtime: trl, which also runs on CPU"
        )
    if runtime == "axolotl":
        if not (_installed("axolotl") or shutil.which("axolotl")):
            raise MissingDependency(
                f"runtime: axolotl is not installed ({INSTALL['axolotl']}); "
                "or set runtime: trl, which also runs on CPU"
            )
        raise MissingDependency(
            "runtime: axolotl is installed, but this Infernet build does not drive it yet: "
            "set runtime: trl (or unsloth on an NVIDIA GPU)"
        )
    if config.method == "qlora" and not (cuda_available() and _installed("bitsandbytes")):
        raise TrainConfigError(
            "method: qlora loads the base model in 4 bits with bitsandbytes, which needs an "
            "NVIDIA GPU and `pip install bitsandbytes`; on this machine set method: lora"
        )
