"""`infernet.train.yml`: the fine-tune's settings, with the Book's keys (§9.4), validated so
that every error names the key (`training.learning_rate: must be greater than 0`).

Keys beyond the Book's, all optional: `training.max_steps` (stop after this many optimizer
steps; overrides `epochs`, for quick runs) and `training.seed`. Relative paths
(`input.dataset`, a GGUF `base_model`) are relative to the file's own folder.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infernet.train.errors import TrainConfigError

CONFIG_NAME = "infernet.train.yml"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    dataset: str = Field(min_length=1)
    format: Literal["chatml"] = "chatml"
    validation_split: float = Field(0.1, ge=0.0, lt=1.0)


class TrainingSpec(_Strict):
    epochs: float = Field(1.0, gt=0)
    learning_rate: float = Field(2e-4, gt=0, lt=1)
    batch_size: int = Field(4, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_seq_len: int = Field(512, ge=16)
    max_steps: int | None = Field(None, ge=1)
    seed: int = 42


class LoraSpec(_Strict):
    rank: int = Field(16, ge=1, le=1024)
    alpha: float = Field(32.0, gt=0)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], min_length=1
    )


class ResourcesSpec(_Strict):
    min_vram_gb: float = Field(0.0, ge=0)
    max_runtime_hours: float = Field(2.0, gt=0)


class TrainConfig(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    base_model: str = Field(min_length=1)
    method: Literal["lora", "qlora"] = "lora"
    runtime: Literal["trl", "unsloth", "axolotl"] = "trl"
    workload_class: Literal["C1", "C2", "C3"] = "C1"
    input: InputSpec
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    lora: LoraSpec = Field(default_factory=LoraSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)

    def resolve(self, path: str, base: Path) -> Path:
        """`path` from this file, made absolute against the file's folder `base`."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else (base / candidate).resolve()


# -- loading --------------------------------------------------------------------------------


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed at `loc` (for "did you mean" on an unknown key)."""
    model: Any = TrainConfig
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not isinstance(field.annotation, type):
            return []
        model = field.annotation
    return list(model.model_fields)


def _describe(error: Any) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(p) for p in loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _fields_at(loc), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{key}: unknown key{hint}"
    if error["type"] == "missing":
        return f"{key}: missing (required)"
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {json.dumps(got, default=str)})"
    return f"{key}: {error['msg'].lower()}{shown}"


def parse_config(data: object, source: str) -> TrainConfig:
    if not isinstance(data, dict):
        raise TrainConfigError(f"{source}: expected a mapping of keys (name, base_model, ...)")
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        lines = "\n  ".join(_describe(e) for e in exc.errors())
        raise TrainConfigError(f"{source} is not valid:\n  {lines}") from exc


def load_config(path: Path) -> TrainConfig:
    if path.is_dir():
        path = path / CONFIG_NAME
    if not path.is_file():
        raise TrainConfigError(
            f"{path} not found: create one with `infernet train init --output {path.parent}`"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TrainConfigError(f"{path} is not valid YAML: {exc}") from exc
    return parse_config(data, str(path))


# -- writing (`train init`) -----------------------------------------------------------------


def _v(value: object) -> str:
    """A YAML scalar or flow list; JSON is valid YAML and quotes what needs quoting."""
    return json.dumps(value)


def render_config(config: TrainConfig) -> str:
    """The file `train init` writes: every key, with a comment on what it does."""
    t, lo, r = config.training, config.lora, config.resources
    return f"""\
# Infernet fine-tune settings (Book §9.4). Run with: infernet train run --local
name: {_v(config.name)}                # names the adapter, the GGUF and the published model
base_model: {_v(config.base_model)}
#   a GGUF file (llama family), a local Hugging Face folder, or a Hub id (org/name, downloaded
#   into the Hugging Face cache on first use)
method: {_v(config.method)}              # lora | qlora (qlora: 4-bit base, needs an NVIDIA GPU)
runtime: {_v(config.runtime)}              # trl | unsloth | axolotl
workload_class: {_v(config.workload_class)}         # C1 local · C2 sweep · C3 federated
input:
  dataset: {_v(config.input.dataset)}   # ChatML JSONL, e.g. from `infernet train data`
  format: {_v(config.input.format)}
  validation_split: {_v(config.input.validation_split)}       # share held out for eval loss
training:
  epochs: {_v(t.epochs)}
  learning_rate: {_v(t.learning_rate)}
  batch_size: {_v(t.batch_size)}
  gradient_accumulation_steps: {_v(t.gradient_accumulation_steps)}
  max_seq_len: {_v(t.max_seq_len)}             # tokens; longer examples are truncated
  max_steps: {_v(t.max_steps)}                # optional: stop after this many steps
  seed: {_v(t.seed)}
lora:
  rank: {_v(lo.rank)}
  alpha: {_v(lo.alpha)}
  target_modules: {_v(lo.target_modules)}
resources:
  min_vram_gb: {_v(r.min_vram_gb)}              # GPU memory needed (0: CPU is fine)
  max_runtime_hours: {_v(r.max_runtime_hours)}        # then stop with a resumable checkpoint
"""


def write_new_config(path: Path, config: TrainConfig, *, force: bool) -> None:
    if path.exists() and not force:
        raise TrainConfigError(f"{path} already exists: pass --force to overwrite it")
    text = render_config(config)
    parse_config(yaml.safe_load(text), str(path))  # what we write must load back
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
