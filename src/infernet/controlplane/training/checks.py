"""What the control plane refuses at the door: settings a node could not run, shard files
that are not the ChatML the submitter announced, and adapter uploads that are not a LoRA
adapter of the job's shape. Garbage is turned away here, before a verifier spends a
model load on it; whether the tensors fit the base model is the verifier's to find.

Everything here needs the train extra (`require_training` says so first), whose modules
are imported inside the functions: a control plane without it starts and serves all
else, and answers training requests with 503 `not_offered`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infernet.controlplane.errors import BadRequest, NotOffered

if TYPE_CHECKING:
    from infernet.train.config import TrainConfig

MIN_SHARD_EXAMPLES = 2  # one line to train on, one held out for the verifier
DTYPES = ("F32", "F16", "BF16")
_LORA_KEY = re.compile(r"(?P<module>[\w.]+)\.lora_(?P<part>[AB])\.weight")


class AdapterRejected(Exception):
    """An upload that is not a LoRA adapter of the job's shape; the message says why."""


def require_training() -> None:
    from infernet.train.errors import MissingDependency, require_train_extra

    try:
        require_train_extra()
    except MissingDependency as exc:
        raise NotOffered(f"This control plane does not take training jobs: {exc}") from exc


def job_config(data: dict[str, Any]) -> TrainConfig:
    """The job's settings, valid for a network run (errors name the key)."""
    from infernet.train.basemodel import check_network_base
    from infernet.train.config import parse_config
    from infernet.train.errors import TrainConfigError

    try:
        config = parse_config(data, "config")
        check_network_base(config.base_model)
    except TrainConfigError as exc:
        raise BadRequest(str(exc)) from exc
    if config.input.validation_split <= 0:
        raise BadRequest(
            "config.input.validation_split must be more than 0: the verifier measures each "
            "adapter on the held-out lines of its shard"
        )
    return config


def shard_examples(data: bytes, source: str) -> int:
    """How many ChatML examples `data` holds (errors name `source:line`)."""
    from infernet.train.dataset import parse_examples
    from infernet.train.errors import DataError

    try:
        return len(parse_examples(data.decode("utf-8"), source))
    except UnicodeDecodeError as exc:
        raise BadRequest(f"{source} is not UTF-8 text: {exc.reason}") from exc
    except DataError as exc:
        raise BadRequest(str(exc)) from exc


def _shapes(path: Path) -> dict[str, tuple[str, list[int]]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np") as tensors:
            names = tensors.keys()  # a safetensors handle, not a dict: no `in tensors`
            return {
                key: (tensors.get_slice(key).get_dtype(), tensors.get_slice(key).get_shape())
                for key in names
            }
    except (SafetensorError, OSError) as exc:
        raise AdapterRejected(f"not a safetensors file ({exc})") from exc


def _check_tensor(key: str, dtype: str, shape: list[int], rank: int, targets: set[str]) -> str:
    """The tensor's module and part ("A"/"B"), or AdapterRejected."""
    match = _LORA_KEY.fullmatch(key)
    if match is None:
        raise AdapterRejected(f"{key} is not a LoRA weight (…lora_A.weight or …lora_B.weight)")
    module = match["module"]
    if module.rsplit(".", 1)[-1] not in targets:
        raise AdapterRejected(f"{key}: that module is not one of lora.target_modules")
    if dtype not in DTYPES or len(shape) != 2:
        raise AdapterRejected(f"{key}: expected a 2-D float tensor, got {dtype} {shape}")
    rank_axis = 0 if match["part"] == "A" else 1
    if shape[rank_axis] != rank:
        raise AdapterRejected(f"{key}: shape {shape} is not of lora.rank {rank}")
    return f"{module}:{match['part']}"


def adapter_tensors(path: Path, config: TrainConfig) -> None:
    """Raise AdapterRejected unless `path` holds LoRA A/B pairs of the job's rank on the
    job's target modules."""
    shapes = _shapes(path)
    if not shapes:
        raise AdapterRejected("the file holds no tensors")
    targets = set(config.lora.target_modules)
    parts = {_check_tensor(k, d, s, config.lora.rank, targets) for k, (d, s) in shapes.items()}
    modules = {p.split(":")[0] for p in parts}
    unpaired = sorted(m for m in modules if not {f"{m}:A", f"{m}:B"} <= parts)
    if unpaired:
        raise AdapterRejected(f"{unpaired[0]} has lora_A or lora_B but not both")


def adapter_config(given: dict[str, Any], config: TrainConfig) -> None:
    """Raise AdapterRejected unless PEFT's `adapter_config.json` describes the job's LoRA."""
    lora = config.lora
    wrong = {
        "peft_type": given.get("peft_type") != "LORA",
        "r": given.get("r") != lora.rank,
        "lora_alpha": given.get("lora_alpha") != lora.alpha,
        "target_modules": set(given.get("target_modules") or ()) != set(lora.target_modules),
        "use_dora": bool(given.get("use_dora")),
        "use_rslora": bool(given.get("use_rslora")),
        "modules_to_save": bool(given.get("modules_to_save")),
    }
    bad = [name for name, is_wrong in wrong.items() if is_wrong]
    if bad:
        raise AdapterRejected(
            f"adapter_config.json disagrees with the job's lora settings on: {', '.join(bad)}"
        )
