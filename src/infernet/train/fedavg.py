"""FedAvg of the nodes' LoRA adapters into one, exactly (`train run --open-market`).

Node i's adapter changes each targeted weight W by ΔW_i = s·B_i·A_i (s = alpha / r).
FedAvg weighted by shard size wants Σ w_i·ΔW_i, with w_i the share of the examples that
node trained on. Averaging the A's and the B's separately does not give that (a mean of
products is not the product of the means), so the adapters are stacked instead:

    A = [A_1; A_2; ...; A_k]          (rows: rank k·r)
    B = [w_1·B_1, w_2·B_2, ..., w_k·B_k]  (columns)
    B·A = Σ w_i·B_i·A_i               exactly

as a LoRA of rank k·r whose `lora_alpha` is k·alpha, so that its scale alpha' / r' is the
nodes' alpha / r. `infernet publish` merges it into the base like any other adapter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infernet.train.config import TrainConfig
from infernet.train.errors import RunError

ADAPTER_FILE = "adapter_model.safetensors"


def stack(adapters: list[tuple[dict[str, Any], float]]) -> dict[str, Any]:
    """One state dict from (state dict, weight) pairs whose weights sum to 1."""
    import torch

    keys = set(adapters[0][0])
    for weights, _ in adapters[1:]:
        if set(weights) != keys:
            raise RunError("the accepted adapters do not have the same LoRA weights")
    merged = {}
    for key in sorted(keys):
        if ".lora_A." in key:
            merged[key] = torch.cat([w[key].float() for w, _ in adapters], dim=0)
        elif ".lora_B." in key:
            merged[key] = torch.cat([w[key].float() * share for w, share in adapters], dim=1)
        else:
            raise RunError(f"{key} is not a LoRA weight; cannot average it")
    return merged


def merge_adapters(adapters: list[tuple[Path, int]], config: TrainConfig, out: Path) -> None:
    """Write into `out` the FedAvg of `adapters` ((adapter file, examples trained on))."""
    from safetensors.torch import load_file, save_file

    from infernet.train.runner import lora_config

    if not adapters:
        raise RunError("no adapter to merge")
    total = sum(examples for _, examples in adapters)
    loaded = [(load_file(str(path)), examples / total) for path, examples in adapters]
    out.mkdir(parents=True, exist_ok=True)
    save_file(stack(loaded), str(out / ADAPTER_FILE), metadata={"format": "pt"})
    lora = lora_config(config)
    lora.r = config.lora.rank * len(adapters)
    lora.lora_alpha = config.lora.alpha * len(adapters)
    lora.save_pretrained(str(out))
