"""How a node trains one claimed shard: `SubprocessTrainer` runs
`python -m infernet.train.shard_run` (the code of `infernet train run --local`) in its own
process group, so inference keeps running in the daemon and a stop kills the whole run.

The run folder is `<training home>/<claim id>/`: the job's settings as
`infernet.train.yml` (JSON, which is YAML), the shard as `shard.jsonl`, the trainer's
output in `train.log`, and its results (`checkpoint-final/`, `result.json`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from infernet.protocol.training import ShardClaim

LOG_TAIL = 800


class TrainingFailed(Exception):
    """The shard could not be trained here; the message says why."""


@dataclass(frozen=True)
class TrainedShard:
    adapter: Path  # adapter_model.safetensors
    adapter_config: Path  # adapter_config.json
    eval_loss_before: float
    eval_loss_after: float
    steps: int


class ShardTrainer(Protocol):
    async def train(self, folder: Path, claim: ShardClaim, data: bytes) -> TrainedShard: ...


def prepare_folder(folder: Path, claim: ShardClaim, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shard.jsonl").write_bytes(data)
    settings = {**claim.config, "input": {**claim.config["input"], "dataset": "shard.jsonl"}}
    (folder / "infernet.train.yml").write_text(json.dumps(settings, indent=2), encoding="utf-8")


def _tail(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()[-LOG_TAIL:]
    except OSError:
        return ""


class SubprocessTrainer:
    async def train(self, folder: Path, claim: ShardClaim, data: bytes) -> TrainedShard:
        prepare_folder(folder, claim, data)
        log = folder / "train.log"
        with open(log, "wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "infernet.train.shard_run",
                str(folder),
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "TQDM_DISABLE": "1"},
                start_new_session=True,  # its own process group: a stop takes its children too
            )
            try:
                code = await process.wait()
            finally:
                if process.returncode is None:  # the daemon is stopping, or lost the claim
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    await process.wait()
        if code != 0:
            raise TrainingFailed(f"the trainer exited with {code}: {_tail(log)}")
        result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        final = folder / "checkpoint-final"
        return TrainedShard(
            adapter=final / "adapter_model.safetensors",
            adapter_config=final / "adapter_config.json",
            eval_loss_before=float(result["eval_loss_before"]),
            eval_loss_after=float(result["eval_loss_after"]),
            steps=int(result["steps"]),
        )
