"""Nodes that do not deliver are not paid, and the shard they held goes to the next node.

One shard, offered to five node daemons in turn: the first is killed while it trains (its
claim lapses, the shard is offered again); the second uploads garbage (refused at the
door); the third uploads LoRA weights of the wrong shape (the verifier cannot load them
onto the base model); the fourth uploads an untrained adapter and reports a loss it did
not reach (the verifier does not reproduce it); the fifth trains it for real and is the
one paid. The submitter, waiting meanwhile, gets the fifth node's adapter.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from infernet.localnet import LocalNode
from tests.support.harness import Harness, running
from tests.train.conftest import make_run, needs_train_extra, zorblax_lines
from tests.train.market_net import (
    ForgedTrainer,
    earnings,
    job_state,
    market_settings,
    submit,
    submitted_job,
    training_node,
    wait_until,
)

pytestmark = pytest.mark.timeout(1800)  # real training and four verifier runs, on CPU

VERIFIED_IN_S = 900.0  # a verifier run loads the base model on a busy CPU


def forged_adapters(run: Path) -> tuple[bytes, bytes]:
    """(an untrained LoRA of the job's exact shape, B = 0; the same with lora_A one column
    short, which no SmolLM2 layer takes)."""
    import torch
    from peft import get_peft_model, get_peft_model_state_dict
    from safetensors.torch import save

    from infernet.train import basemodel
    from infernet.train.config import load_config
    from infernet.train.runner import lora_config

    config = load_config(run)
    ref = basemodel.resolve_base(config.base_model, run)
    with basemodel.library_noise_off():
        model = get_peft_model(basemodel.load_model(ref), lora_config(config))
        weights = {k: v.detach().contiguous() for k, v in get_peft_model_state_dict(model).items()}
    misfit = {
        k: torch.zeros(v.shape[0], v.shape[1] - 1) if ".lora_A." in k else v
        for k, v in weights.items()
    }
    return bytes(save(weights)), bytes(save(misfit))


@dataclass
class Faults:
    submitter: subprocess.CompletedProcess[str]
    job: dict[str, Any]
    nodes: dict[str, str]  # role -> node id
    earned: dict[str, Decimal]  # role -> earnings
    trainer_left_running: bool


async def claims(net: Harness, job_id: str) -> list[dict[str, Any]]:
    return list((await job_state(net, job_id))["shards"][0]["claims"])


async def ended(net: Harness, job_id: str, count: int, status: str, timeout: float) -> None:
    async def check() -> bool:
        found = await claims(net, job_id)
        return len(found) >= count and found[count - 1]["status"] == status

    await wait_until(check, timeout, f"claim {count} to be {status}")


async def kill_mid_shard(net: Harness, node: LocalNode, job_id: str) -> bool:
    """Stop `node` while its trainer runs; whether a trainer process survived it."""
    home = node.config.key_file().parent.parent / "training"

    async def training() -> bool:
        return any(home.glob("*/train.log"))

    await wait_until(training, 300, "the first node to start training")
    claim_id = (await claims(net, job_id))[0]["id"]
    await asyncio.sleep(3)  # mid-shard: the trainer is loading or training
    await node.stop()
    left = subprocess.run(["pgrep", "-f", claim_id], capture_output=True, check=False)
    return left.returncode == 0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def faults(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Faults]:
    needs_train_extra()
    home = tmp_path_factory.mktemp("faults")
    run = make_run(
        home, zorblax_lines(6), max_steps=3, batch_size=2, learning_rate=0.005, max_seq_len=256
    )
    untrained, misfit = await asyncio.to_thread(forged_adapters, run)
    settings = market_settings(home, training_claim_ttl_s=3.0, training_max_attempts=10)
    async with running(home, settings) as net:
        waiting = asyncio.create_task(
            submit(net, run, "--budget", "1", "--max-nodes", "5", "--shards", "1")
        )
        job_id = await submitted_job(net, run)
        roles: dict[str, LocalNode] = {"killed": training_node(net)}
        survived = await kill_mid_shard(net, roles["killed"], job_id)
        await ended(net, job_id, 1, "expired", 60)
        steps = [
            ("garbage", os.urandom(4096), 60.0),
            ("misfit", misfit, VERIFIED_IN_S),
            ("liar", untrained, VERIFIED_IN_S),
        ]
        for count, (role, adapter, timeout) in enumerate(steps, start=2):
            roles[role] = training_node(net, ForgedTrainer(adapter))
            await ended(net, job_id, count, "rejected", timeout)
            await roles[role].stop()
        roles["honest"] = training_node(net)
        done = await waiting
        yield Faults(
            done,
            await job_state(net, job_id),
            {role: str(node.node_id) for role, node in roles.items()},
            {role: await earnings(net, node) for role, node in roles.items()},
            survived,
        )


def claim_of(faults: Faults, role: str) -> dict[str, Any]:
    found = [c for c in faults.job["shards"][0]["claims"] if c["node_id"] == faults.nodes[role]]
    assert len(found) == 1, found
    return found[0]


def test_a_node_killed_mid_shard_loses_its_claim_unpaid(faults: Faults) -> None:
    claim = claim_of(faults, "killed")
    assert claim["status"] == "expired" and "stopped renewing" in claim["detail"]
    assert claim["reported_at"] is None
    assert not faults.trainer_left_running  # the daemon's stop took its trainer down
    assert faults.earned["killed"] == 0


def test_a_node_uploading_garbage_is_rejected_unpaid(faults: Faults) -> None:
    claim = claim_of(faults, "garbage")
    assert claim["status"] == "rejected" and "not a safetensors file" in claim["detail"]
    assert faults.earned["garbage"] == 0


def test_weights_that_do_not_fit_the_base_model_are_rejected_unpaid(faults: Faults) -> None:
    claim = claim_of(faults, "misfit")
    assert claim["status"] == "rejected"
    assert "does not fit the base model" in claim["detail"] and "shape" in claim["detail"]
    assert faults.earned["misfit"] == 0


def test_a_loss_the_verifier_cannot_reproduce_is_not_paid(faults: Faults) -> None:
    claim = claim_of(faults, "liar")
    assert claim["status"] == "rejected" and "was not reproduced" in claim["detail"]
    assert (claim["loss_before"], claim["loss_after"]) == (3.0, 1.0)  # what it claimed
    assert claim["verified_after"] == pytest.approx(claim["verified_before"])  # untrained
    assert faults.earned["liar"] == 0


def test_the_shard_is_offered_again_until_a_node_delivers_and_only_it_is_paid(
    faults: Faults,
) -> None:
    assert faults.submitter.returncode == 0, faults.submitter.stdout + faults.submitter.stderr
    shard = faults.job["shards"][0]
    assert [c["status"] for c in shard["claims"]] == [
        "expired", "rejected", "rejected", "rejected", "accepted",
    ]  # fmt: skip
    assert shard["attempts"] == 4 and shard["status"] == "accepted"
    assert claim_of(faults, "honest")["status"] == "accepted"
    assert faults.earned["honest"] == Decimal("0.85")
    assert faults.job["status"] == "done" and faults.job["paid_usdc"] == "1.000000"
