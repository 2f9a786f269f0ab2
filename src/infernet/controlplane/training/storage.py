"""Where the control plane keeps training shards and adapters: plain files under
`Settings.training_dir`, served only through its own authenticated routes.

    <root>/<job id>/shard-<position>.jsonl
    <root>/<job id>/adapters/<claim id>/adapter_model.safetensors
    <root>/<job id>/adapters/<claim id>/adapter_config.json

With no `training_dir`, the root is `training/` beside the SQLite database (like the
platform key), else `~/.infernet/training`. Replicas of one control plane must share it
(a network file system): a node may upload to one replica and the verifier run on another.
Every write goes to a temporary name first and is renamed into place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from infernet.controlplane.settings import Settings
from infernet.protocol.training import TRAINING_PREFIX

ADAPTER_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"
FALLBACK = Path("~/.infernet/training")


def storage_root(settings: Settings) -> Path:
    if settings.training_dir:
        return Path(settings.training_dir).expanduser()
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database)).expanduser().resolve().with_name("training")
    return FALLBACK.expanduser()


def uploads(settings: Settings) -> tuple[str, int]:
    """Where shards and adapters are PUT, and how large they may be (web/middleware.py)."""
    return TRAINING_PREFIX, settings.training_upload_max_bytes


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_bytes(data)
    partial.replace(path)


class TrainingStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def shard(self, job_id: str, position: int) -> Path:
        return self.root / job_id / f"shard-{position}.jsonl"

    def adapter_dir(self, job_id: str, claim_id: str) -> Path:
        return self.root / job_id / "adapters" / claim_id

    def adapter(self, job_id: str, claim_id: str) -> Path:
        return self.adapter_dir(job_id, claim_id) / ADAPTER_FILE

    def write_shard(self, job_id: str, position: int, data: bytes) -> None:
        _write(self.shard(job_id, position), data)

    def write_adapter(self, job_id: str, claim_id: str, data: bytes) -> Path:
        path = self.adapter(job_id, claim_id)
        _write(path, data)
        return path

    def write_adapter_config(self, job_id: str, claim_id: str, config: dict[str, Any]) -> None:
        path = self.adapter_dir(job_id, claim_id) / CONFIG_FILE
        _write(path, json.dumps(config, indent=2).encode())
