"""The run folder: what a local fine-tune writes, and when it may start or resume.

```
run/
  infernet.train.yml          the settings (yours; never rewritten by a run)
  infernet.train.frozen.yml   the settings as this run used them, plus what they resolved
                              to: base model file and sha256, dataset sha256 and split,
                              library versions (Book: "the frozen config")
  metrics.jsonl               one line per logged step: loss, eval_loss, learning_rate
  README.md                   what was trained on what, with what result
  checkpoints/checkpoint-N/   resumable state while a run is unfinished (Ctrl-C, limit)
  checkpoint-final/           the LoRA adapter and tokenizer, Hugging Face layout
```

A run refuses to start over an unfinished one (`--resume` continues it, `--restart`
discards it), and refuses to resume when the settings, the base model or the dataset
changed since it started.
"""

from __future__ import annotations

import platform
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from infernet.train.basemodel import BaseModelRef
from infernet.train.config import CONFIG_NAME, TrainConfig
from infernet.train.errors import RunError

FROZEN_NAME = "infernet.train.frozen.yml"
_LIBRARIES = ("torch", "transformers", "peft", "trl", "datasets")


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def frozen(self) -> Path:
        return self.root / FROZEN_NAME

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def readme(self) -> Path:
        return self.root / "README.md"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def final(self) -> Path:
        return self.root / "checkpoint-final"

    def latest_checkpoint(self) -> Path | None:
        found = [
            (int(p.name.rsplit("-", 1)[1]), p)
            for p in self.checkpoints.glob("checkpoint-*")
            if p.name.rsplit("-", 1)[1].isdigit() and (p / "trainer_state.json").is_file()
        ]
        return max(found)[1] if found else None


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def freeze(config: TrainConfig, base: BaseModelRef, dataset: Path, sha256: str) -> dict[str, Any]:
    """The settings plus what they resolved to; what resuming compares against."""
    return {
        **config.model_dump(mode="json"),
        "resolved": {
            "base_model": {
                "kind": base.kind,
                "location": base.location,
                "sha256": base.fingerprint,
            },
            "dataset": {"path": str(dataset), "sha256": sha256},
            "python": platform.python_version(),
            "libraries": {name: _version(name) for name in _LIBRARIES},
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }


def _same_run(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """What changed that a resume cannot accept, or None."""
    settings = {k: v for k, v in old.items() if k != "resolved"}
    if settings != {k: v for k, v in new.items() if k != "resolved"}:
        return f"{CONFIG_NAME} changed"
    for part in ("base_model", "dataset"):
        if old["resolved"][part] != new["resolved"][part]:
            return f"the {part.replace('_', ' ')} changed"
    return None


def prepare(paths: RunPaths, frozen: dict[str, Any], *, resume: bool, restart: bool) -> Path | None:
    """Make the folder ready; the checkpoint to resume from, or None for a fresh start."""
    latest = paths.latest_checkpoint()
    if latest is not None and not (resume or restart):
        raise RunError(
            f"{paths.root} holds an unfinished run ({latest.name}): continue it with "
            "`infernet train run --local --resume`, or discard it with --restart"
        )
    if resume:
        if latest is None:
            raise RunError(f"nothing to resume in {paths.root}: no checkpoint was saved")
        old = yaml.safe_load(paths.frozen.read_text(encoding="utf-8"))
        changed = _same_run(old, frozen)
        if changed:
            raise RunError(
                f"cannot resume {latest.name}: {changed} since the run started; "
                "put it back, or start over with --restart"
            )
        return latest
    for stale in (paths.checkpoints, paths.final):
        shutil.rmtree(stale, ignore_errors=True)
    paths.metrics.unlink(missing_ok=True)
    write_yaml(paths.frozen, frozen)
    return None


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".part")
    partial.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    partial.replace(path)
