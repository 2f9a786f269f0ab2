"""`python -m infernet.train.verify CONFIG.json SHARD.jsonl ADAPTER.safetensors`: the
control plane's check of a node's adapter (controlplane/training/verifier.py runs it).

Loads the base model, attaches a LoRA of the job's settings (never the node's own
`adapter_config.json`, which could ask for more), loads the uploaded weights into it
(their names and shapes must be exactly that LoRA's), and measures the eval loss of the
shard's held-out lines (the split `train run --local` makes, by the job's seed) with the
adapter off and on, through the trainer the node trained with. Prints one JSON line:
`{"loss_before": x, "loss_after": y}`, or `{"unfit": why}` when the weights do not fit;
any other failure exits 1 with the reason on stderr.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from infernet.train import basemodel, dataset
from infernet.train.config import TrainConfig, parse_config
from infernet.train.errors import DataError, TrainError


class UnfitAdapter(Exception):
    """The uploaded weights are not the job's LoRA for this base model."""


def fit(model: Any, weights: dict[str, Any]) -> None:
    """Load `weights` into the LoRA of `model`, or UnfitAdapter saying what does not fit."""
    import torch
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    expected = get_peft_model_state_dict(model)
    missing, extra = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing:
        raise UnfitAdapter(f"{len(missing)} LoRA weights are missing, e.g. {missing[0]}")
    if extra:
        raise UnfitAdapter(f"{len(extra)} weights are not of this LoRA, e.g. {extra[0]}")
    for name, tensor in weights.items():
        want = tuple(expected[name].shape)
        if tuple(tensor.shape) != want:
            raise UnfitAdapter(
                f"{name} has shape {list(tensor.shape)}; the base needs {list(want)}"
            )
        if not bool(torch.isfinite(tensor).all()):
            raise UnfitAdapter(f"{name} holds values that are not finite")
    dtype = next(iter(expected.values())).dtype
    set_peft_model_state_dict(model, {k: v.to(dtype) for k, v in weights.items()})


def measure(config: TrainConfig, shard: Path, adapter: Path) -> tuple[float, float]:
    """(eval loss without, with the adapter) on the shard's held-out lines."""
    from peft import get_peft_model
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from transformers import PrinterCallback

    from infernet.train.rundir import RunPaths
    from infernet.train.runner import build_trainer, lora_config, quiet_libraries

    quiet_libraries()

    split = dataset.split(
        dataset.load_examples(shard), config.input.validation_split, config.training.seed
    )
    if not split.eval:
        raise DataError(f"{shard} holds no held-out lines to measure on")
    try:
        weights = load_file(str(adapter))
    except SafetensorError as exc:
        raise UnfitAdapter(f"not a safetensors file ({exc})") from exc
    ref = basemodel.resolve_base(config.base_model, shard.parent)
    model = get_peft_model(basemodel.load_model(ref), lora_config(config))
    fit(model, weights)
    loaded = (model, basemodel.load_tokenizer(ref), None)
    with tempfile.TemporaryDirectory(prefix="infernet-verify-") as scratch:
        trainer = build_trainer(config, RunPaths(Path(scratch)), split, loaded)
        trainer.remove_callback(PrinterCallback)  # stdout carries the verdict alone
        after = float(trainer.evaluate()["eval_loss"])
        with model.disable_adapter():
            before = float(trainer.evaluate()["eval_loss"])
    return before, after


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    settings, shard, adapter = (Path(a) for a in args)
    try:
        config = parse_config(json.loads(settings.read_text(encoding="utf-8")), str(settings))
        with basemodel.library_noise_off():
            before, after = measure(config, shard, adapter)
    except UnfitAdapter as exc:
        print(json.dumps({"unfit": str(exc)}))
        return 0
    except TrainError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps({"loss_before": before, "loss_after": after}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
