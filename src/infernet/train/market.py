"""`infernet train run --open-market`: the fine-tune trained by the network's nodes.

Settings → the dataset cut into shards (sharding.py) → a training job on the control
plane, its budget held in escrow → the shards uploaded → nodes that opted in claim,
train and report; the control plane verifies and pays each → waiting here, with a
progress bar → the accepted adapters downloaded and merged (FedAvg by shard size,
fedavg.py) into `checkpoint-final/`, from which `infernet publish` works as after a
local run. The run folder then also holds:

    market.json              the job on the network: running the command again waits for
                             it (after Ctrl-C, say) instead of submitting a new one
    shards/shard-N/          each accepted adapter, as its node delivered it
    metrics.jsonl            one line per accepted shard: its node, its losses, its pay
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from infernet.protocol.training import TRAINING_PREFIX
from infernet.train import basemodel
from infernet.train.config import TrainConfig, load_config
from infernet.train.errors import RunError, require_train_extra
from infernet.train.fedavg import ADAPTER_FILE, merge_adapters
from infernet.train.filehash import file_sha256
from infernet.train.market_api import MarketClient, MarketJob
from infernet.train.market_report import metrics_lines, render_market_readme
from infernet.train.rundir import RunPaths, freeze, write_yaml
from infernet.train.sharding import Shard, split_shards

STATE = "market.json"
CONFIG_FILE = "adapter_config.json"


@dataclass(frozen=True)
class MarketRequest:
    budget: str
    max_nodes: int
    shards: int | None  # None: one per node
    deadline_hours: float
    poll_s: float = 5.0


@dataclass(frozen=True)
class MarketOutcome:
    paths: RunPaths
    job: MarketJob


def run_market(
    root: Path, console: Console, client: MarketClient, request: MarketRequest
) -> MarketOutcome:
    config = load_config(root)
    basemodel.check_network_base(config.base_model, root)
    require_train_extra()  # the merge at the end loads adapters and the tokenizer
    paths = RunPaths(root)
    data_path = config.resolve(config.input.dataset, root)
    shards = split_shards(data_path, request.shards or request.max_nodes, config.training.seed)
    fingerprint = _fingerprint(config, data_path)
    job_id = _submitted(paths, fingerprint) or _submit(
        paths, config, fingerprint, client, shards, request
    )
    _upload(client, client.job(job_id), shards)
    console.print(f"Training job {job_id}: {len(shards)} shards on the network")
    job = _wait(client, job_id, console, request.poll_s)
    if job.status == "failed":
        raise RunError(
            f"training job {job.id} ended with no shard accepted: {job.detail}. "
            "What was not spent of the budget is back in your balance."
        )
    _finish(paths, config, data_path, client, job, console)
    return MarketOutcome(paths, job)


def _fingerprint(config: TrainConfig, data_path: Path) -> dict[str, str]:
    """What a submitted job was made of: a later run waits for it only if these hold."""
    settings = json.dumps(config.model_dump(mode="json"), sort_keys=True).encode()
    return {
        "settings_sha256": hashlib.sha256(settings).hexdigest(),
        "dataset_sha256": file_sha256(data_path),
    }


def _submitted(paths: RunPaths, fingerprint: dict[str, str]) -> str | None:
    state_file = paths.root / STATE
    if not state_file.is_file():
        return None
    state = json.loads(state_file.read_text(encoding="utf-8"))
    changed = [k.split("_")[0] for k, v in fingerprint.items() if state.get(k) != v]
    if changed:
        raise RunError(
            f"the {' and the '.join(changed)} changed since training job {state['job_id']} was "
            "submitted: put them back to wait for it, or submit anew with --restart"
        )
    return str(state["job_id"])


def _submit(
    paths: RunPaths,
    config: TrainConfig,
    fingerprint: dict[str, str],
    client: MarketClient,
    shards: list[Shard],
    request: MarketRequest,
) -> str:
    created = client.create(
        {
            "config": config.model_dump(mode="json"),
            "shards": [{"examples": s.examples, "sha256": s.sha256} for s in shards],
            "budget_usdc": request.budget,
            "max_nodes": request.max_nodes,
            "deadline_hours": request.deadline_hours,
        }
    )
    state = {"job_id": created["id"], "control_plane": client.url, **fingerprint}
    (paths.root / STATE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    return str(created["id"])


def _upload(client: MarketClient, job: MarketJob, shards: list[Shard]) -> None:
    """Upload what the job still waits for (all of it, unless resuming an upload)."""
    for shard in job.shards:
        if shard.status != "awaiting_upload":
            continue
        mine = shards[shard.position] if shard.position < len(shards) else None
        if mine is None or mine.examples != shard.examples:
            raise RunError(
                f"the dataset changed since training job {job.id} was submitted; put it back, "
                f"or submit anew with --restart"
            )
        client.upload(f"{TRAINING_PREFIX}/jobs/{job.id}/shards/{shard.position}", mine.data)


def _wait(client: MarketClient, job_id: str, console: Console, poll_s: float) -> MarketJob:
    progress = Progress(
        TextColumn("Network training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("market", total=None, state="")
        while True:
            job = client.job(job_id)
            state = (
                f"{job.count('claimed')} training, {job.count('reported')} verifying, "
                f"{job.count('open', 'awaiting_upload')} waiting, {job.count('failed')} failed"
            )
            progress.update(
                task, total=len(job.shards), completed=job.count("accepted"), state=state
            )
            if job.finished:
                return job
            time.sleep(poll_s)


def _finish(
    paths: RunPaths,
    config: TrainConfig,
    data_path: Path,
    client: MarketClient,
    job: MarketJob,
    console: Console,
) -> None:
    accepted = [s for s in job.shards if s.status == "accepted"]
    adapters = []
    for shard in accepted:
        folder = paths.root / "shards" / f"shard-{shard.position}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in (ADAPTER_FILE, CONFIG_FILE):
            (folder / name).write_bytes(client.adapter_file(job.id, shard.id, name))
        adapters.append((folder / ADAPTER_FILE, shard.examples))
    console.print(f"Merging {len(adapters)} adapters (FedAvg, weighted by shard size)...")
    ref = basemodel.resolve_base(config.base_model, paths.root)
    partial = paths.final.with_name(paths.final.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    merge_adapters(adapters, config, partial)
    with basemodel.library_noise_off():
        basemodel.load_tokenizer(ref).save_pretrained(str(partial))
    shutil.rmtree(paths.final, ignore_errors=True)
    partial.rename(paths.final)
    frozen = freeze(config, ref, data_path, file_sha256(data_path))
    frozen["resolved"]["market"] = {"job_id": job.id, "control_plane": client.url}
    write_yaml(paths.frozen, frozen)
    paths.metrics.write_text("".join(metrics_lines(job)), encoding="utf-8")
    paths.readme.write_text(render_market_readme(config, ref, job), encoding="utf-8")
