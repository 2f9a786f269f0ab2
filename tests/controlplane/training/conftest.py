"""A control plane with payments on, real node daemons on scripted engines, and a client
that submits training jobs; the node side of training is driven by hand through each
daemon's signed client, so these tests train nothing (tests/train/test_market*.py do)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from infernet.controlplane.settings import Settings
from infernet.engine.launch import SMOLLM2_FILE
from infernet.localnet import LocalNode
from infernet.protocol.training import ClaimRequest, ShardClaim, shard_path
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend
from tests.train.conftest import zorblax_lines

RANK = 8


def job_config(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "zorblax",
        "base_model": SMOLLM2_FILE,
        "input": {"dataset": "../train.jsonl", "validation_split": 0.3},
        "training": {"max_steps": 2, "batch_size": 2},
        "lora": {"rank": RANK},
    }
    config.update(changes)
    return config


def shard_bytes(count: int, start: int = 0) -> bytes:
    return ("\n".join(zorblax_lines(start + count)[start:]) + "\n").encode()


@pytest_asyncio.fixture
async def market(tmp_path: Path, database_url: str | None) -> AsyncIterator[Harness]:
    settings = Settings(
        payments_enabled=True,
        platform_key_path=str(tmp_path / "platform.key"),
        training_dir=str(tmp_path / "training"),
        training_claim_ttl_s=1.5,
    )
    async with running(tmp_path, settings, database_url) as harness:
        yield harness


async def submit(
    harness: Harness,
    shards: list[bytes],
    *,
    budget: str = "3.00",
    max_nodes: int = 3,
    upload: bool = True,
    deadline_hours: float = 1.0,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A training job of `shards`, created (and uploaded unless `upload` is False)."""
    body = {
        "config": config or job_config(),
        "shards": [
            {"examples": len(s.splitlines()), "sha256": hashlib.sha256(s).hexdigest()}
            for s in shards
        ],
        "budget_usdc": budget,
        "max_nodes": max_nodes,
        "deadline_hours": deadline_hours,
    }
    async with harness.client() as api:
        created = await api.post("/api/v1/training/jobs", json=body)
        assert created.status_code == 201, created.text
        job: dict[str, Any] = created.json()
        for upload_to, data in zip(job["shards"], shards, strict=True) if upload else ():
            reply = await api.put(upload_to["upload_path"], content=data)
            assert reply.status_code == 200, reply.text
    return job


async def job_state(harness: Harness, job_id: str) -> dict[str, Any]:
    async with harness.client() as api:
        reply = await api.get(f"/api/v1/training/jobs/{job_id}")
    assert reply.status_code == 200, reply.text
    state: dict[str, Any] = reply.json()
    return state


async def attach(harness: Harness) -> LocalNode:
    """A heartbeating node (on a scripted engine) whose training we drive by hand."""
    return await harness.add_node(ScriptedBackend([f"m{len(harness.nodes)}:1b"]))


async def claim(node: LocalNode, shard_id: str) -> ShardClaim:
    path = shard_path(shard_id, "claim")
    return await node.daemon.client.post(path, ClaimRequest(), ShardClaim)
