"""Adapter + base → one merged model (Book §9.5: publish starts from `checkpoint-final`).

The base is what the run's frozen settings resolved it to, so publish merges into exactly
the weights that were trained against.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from infernet.train import basemodel
from infernet.train.errors import PublishError
from infernet.train.rundir import RunPaths


def trained_base(paths: RunPaths) -> basemodel.BaseModelRef:
    if not (paths.final / "adapter_config.json").is_file():
        raise PublishError(
            f"{paths.final} has no adapter: finish a run first (`infernet train run --local`)"
        )
    frozen = yaml.safe_load(paths.frozen.read_text(encoding="utf-8"))
    base = frozen["resolved"]["base_model"]
    ref = basemodel.BaseModelRef(base["kind"], base["location"])
    if ref.kind != "hub" and not Path(ref.location).exists():
        raise PublishError(f"the base model of this run is gone: {ref.location}")
    return ref


def merged_model(paths: RunPaths, ref: basemodel.BaseModelRef) -> tuple[Any, Any]:
    """(merged model, tokenizer); the adapter's weights folded into the base's."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    with basemodel.library_noise_off():
        base = basemodel.load_model(ref)
        merged = PeftModel.from_pretrained(base, str(paths.final)).merge_and_unload()
    return merged, AutoTokenizer.from_pretrained(str(paths.final))
