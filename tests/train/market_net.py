"""What the open-market training tests share: a control plane with payments on and short
claims, node daemons that accept training (real ones, or ones whose trainer misbehaves),
the submitter's CLI, and reading the job back."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.settings import Settings
from infernet.localnet import LocalNode
from infernet.node.shard_trainer import ShardTrainer, TrainedShard
from infernet.protocol.training import ShardClaim
from tests.support.harness import Harness
from tests.support.scripted import ScriptedBackend
from tests.train.conftest import infernet

LORA_CONFIG = {  # what PEFT writes for the test runs' lora settings
    "peft_type": "LORA",
    "r": 8,
    "lora_alpha": 32.0,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "task_type": "CAUSAL_LM",
}


def market_settings(home: Path, **changes: Any) -> Settings:
    return Settings(
        payments_enabled=True,
        platform_key_path=str(home / "platform.key"),
        training_dir=str(home / "cp-training"),
        heartbeat_interval_s=1.0,
        **changes,
    )


@contextmanager
def one_thread_per_trainer() -> Iterator[None]:
    """For nodes that train side by side on this one machine: their trainers (and the
    control plane's verifier) run with one thread each. torch's default, a thread per
    core in every process, makes them spin against each other: three 3-step runs at once
    took 120 s on two cores, 28 s with one thread each. Nodes on machines of their own keep
    the default."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")  # read by each trainer child as it starts
        yield


def training_node(harness: Harness, trainer: ShardTrainer | None = None) -> LocalNode:
    """A node daemon that accepts training, started; `trainer` None: the real trainer."""
    index = len(harness.nodes)
    node = LocalNode(
        harness.home / f"node{index}",
        harness.url,
        ScriptedBackend([f"m{index}:1b"]),  # inference is not what these tests exercise
        shard_trainer=trainer,
        served_models=[f"m{index}:1b"],
        heartbeat_interval_s=1.0,
        accept_training=True,
        training_poll_s=0.5,
    )
    harness.nodes.append(node)
    node.start()
    return node


async def submit(harness: Harness, run: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`infernet train run RUN --open-market ARGS` as a submitter runs it, to the end."""
    env = {"INFERNET_API_KEY": harness.api_key, "INFERNET_CONTROL_PLANE_URL": harness.url}
    return await asyncio.to_thread(
        infernet, "train", "run", str(run), "--open-market", "--poll", "0.5", *args,
        env=env, timeout=1700,
    )  # fmt: skip


async def job_state(harness: Harness, job_id: str) -> dict[str, Any]:
    async with harness.client() as api:
        reply = await api.get(f"/api/v1/training/jobs/{job_id}")
    assert reply.status_code == 200, reply.text
    state: dict[str, Any] = reply.json()
    return state


async def submitted_job(harness: Harness, run: Path, timeout: float = 120) -> str:
    """The id of the job the submitter created for `run`, once it exists."""
    state = run / "market.json"
    async with asyncio.timeout(timeout):
        while not state.is_file():
            await asyncio.sleep(0.2)
    return str(json.loads(state.read_text())["job_id"])


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.25)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def earnings(harness: Harness, node: LocalNode) -> Decimal:
    payments = harness.control_plane.services.payments
    assert payments is not None
    return await payments.ledger.balance(accounts.earnings(str(node.node_id)))


@dataclass
class ForgedTrainer:
    """A node that trains nothing and uploads `adapter` with the losses it claims."""

    adapter: bytes
    claimed: tuple[float, float] = (3.0, 1.0)
    claims: int = 0

    async def train(self, folder: Path, claim: ShardClaim, data: bytes) -> TrainedShard:
        self.claims += 1
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "adapter_model.safetensors").write_bytes(self.adapter)
        (folder / "adapter_config.json").write_text(json.dumps(LORA_CONFIG))
        return TrainedShard(
            adapter=folder / "adapter_model.safetensors",
            adapter_config=folder / "adapter_config.json",
            eval_loss_before=self.claimed[0],
            eval_loss_after=self.claimed[1],
            steps=3,
        )
