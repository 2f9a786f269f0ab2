"""Open-market training through the control plane's API: a job holds its budget and opens
when its shards are in; exactly one node wins a shard; a claim that is not renewed lapses
and its shard is offered to others, unpaid; garbage uploads end the claim unpaid; the
job's max_nodes, VRAM need and deadline are kept; a report must carry a receipt that
matches its claim."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from infernet.localnet import LocalNode
from infernet.node.client import ControlPlaneError
from infernet.protocol.training import (
    AdapterUploaded,
    ClaimRenewed,
    ClaimRequest,
    ShardOffers,
    ShardReport,
    TrainingReceiptFields,
    shard_path,
    sign_training_receipt,
)
from tests.controlplane.training.conftest import (
    RANK,
    attach,
    claim,
    job_config,
    job_state,
    shard_bytes,
    submit,
)
from tests.support.harness import Harness

np = pytest.importorskip("numpy")
safetensors_numpy = pytest.importorskip("safetensors.numpy")
pytest.importorskip("trl", reason="the control plane takes training jobs with the train extra")

AVAILABLE = "/api/v1/training/shards/available"


async def balance(harness: Harness) -> dict[str, str]:
    async with harness.client() as api:
        return dict((await api.get("/api/v1/billing/balance")).json())


async def offers(node: LocalNode) -> list[str]:
    found = await node.daemon.client.get(AVAILABLE, ShardOffers)
    return [o.shard_id for o in found.shards]


def adapter(rank: int = RANK, key: str = "q_proj") -> bytes:
    """A LoRA-shaped safetensors file (the right shape as far as the control plane sees)."""
    prefix = f"base_model.model.model.layers.0.self_attn.{key}"
    tensors = {
        f"{prefix}.lora_A.weight": np.zeros((rank, 576), np.float32),
        f"{prefix}.lora_B.weight": np.zeros((576, rank), np.float32),
    }
    return bytes(safetensors_numpy.save(tensors))


async def put(node: LocalNode, shard_id: str, data: bytes) -> AdapterUploaded:
    return await node.daemon.client.upload(shard_path(shard_id, "adapter"), data, AdapterUploaded)


async def test_a_job_holds_its_budget_and_opens_once_every_shard_is_in(market: Harness) -> None:
    before = await balance(market)
    shards = [shard_bytes(3), shard_bytes(3, 3)]
    job = await submit(market, shards, budget="2.00", upload=False)
    assert job["status"] == "uploading" and [s["examples"] for s in job["shards"]] == [3, 3]
    held = await balance(market)
    assert float(held["available"]) == pytest.approx(float(before["available"]) - 2)
    assert float(held["held"]) == pytest.approx(2.0)
    async with market.client() as api:
        wrong = await api.put(job["shards"][0]["upload_path"], content=shards[1])
        assert wrong.status_code == 400 and "SHA-256" in wrong.json()["error_message"]
        first = await api.put(job["shards"][0]["upload_path"], content=shards[0])
        assert first.json()["job_status"] == "uploading"
        again = await api.put(job["shards"][0]["upload_path"], content=shards[0])
        assert again.status_code == 409
        last = await api.put(job["shards"][1]["upload_path"], content=shards[1])
        assert last.json()["job_status"] == "open"
    state = await job_state(market, job["id"])
    assert state["status"] == "open"
    assert [s["pay_usdc"] for s in state["shards"]] == ["1.000000", "1.000000"]


async def test_a_budget_above_the_balance_is_refused_and_nothing_is_held(market: Harness) -> None:
    before = await balance(market)
    async with market.client() as api:
        reply = await api.post(
            "/api/v1/training/jobs",
            json={
                "config": job_config(),
                "shards": [{"examples": 3, "sha256": "0" * 64}],
                "budget_usdc": "1000",
                "max_nodes": 1,
            },
        )
    assert reply.status_code == 402 and "Lower --budget" in reply.json()["error_message"]
    assert await balance(market) == before


@pytest.mark.parametrize(
    ("config", "says"),
    [
        (job_config(base_model="./my-model.gguf"), "base_model"),
        (job_config(input={"dataset": "x.jsonl", "validation_split": 0.0}), "validation_split"),
        (job_config(lora={"rank": 0}), "lora.rank"),
    ],
)
async def test_settings_no_node_could_verify_are_refused_naming_the_key(
    market: Harness, config: dict[str, Any], says: str
) -> None:
    async with market.client() as api:
        reply = await api.post(
            "/api/v1/training/jobs",
            json={"config": config, "shards": [{"examples": 3, "sha256": "0" * 64}],
                  "budget_usdc": "1", "max_nodes": 1},
        )  # fmt: skip
    assert reply.status_code == 400 and says in reply.json()["error_message"]


async def test_exactly_one_node_wins_a_shard_and_holds_one_claim_at_a_time(
    market: Harness,
) -> None:
    job = await submit(market, [shard_bytes(3), shard_bytes(3, 3)])
    first, second = await attach(market), await attach(market)
    shard0, shard1 = (s["id"] for s in job["shards"])
    assert sorted(await offers(first)) == sorted([shard0, shard1])
    results = await asyncio.gather(
        claim(first, shard0), claim(second, shard0), return_exceptions=True
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, ControlPlaneError)]
    assert len(won) == 1 and len(lost) == 1 and lost[0].status == 409
    winner, other = (
        (first, second) if not isinstance(results[0], BaseException) else (second, first)
    )
    assert won[0].config["lora"]["rank"] == RANK and won[0].pay_usdc == "1.500000"
    assert await offers(winner) == []  # one claim at a time
    assert await offers(other) == [shard1]
    data = await winner.daemon.client.download(shard_path(shard0, "data"))
    assert hashlib.sha256(data).hexdigest() == won[0].data_sha256
    with pytest.raises(ControlPlaneError) as refused:
        await other.daemon.client.download(shard_path(shard0, "data"))
    assert refused.value.status == 409


async def test_a_claim_not_renewed_lapses_unpaid_and_the_shard_goes_to_another_node(
    market: Harness,
) -> None:
    job = await submit(market, [shard_bytes(3)])
    doomed, other = await attach(market), await attach(market)
    shard = job["shards"][0]["id"]
    held = await claim(doomed, shard)
    renewed = await doomed.daemon.client.post(
        shard_path(shard, "renew"), ClaimRequest(), ClaimRenewed
    )
    assert renewed.expires_at > held.expires_at
    await wait_for(market, job["id"], lambda s: s["shards"][0]["status"] == "open", 10)
    state = await job_state(market, job["id"])
    assert state["shards"][0]["attempts"] == 1
    assert [(c["node_id"], c["status"]) for c in state["shards"][0]["claims"]] == [
        (doomed.node_id, "expired")
    ]
    with pytest.raises(ControlPlaneError) as late:
        await doomed.daemon.client.post(shard_path(shard, "renew"), ClaimRequest(), ClaimRenewed)
    assert late.value.status == 409 and "not paid" in str(late.value)
    assert await offers(doomed) == []  # it failed this shard: others get the next try
    assert await offers(other) == [shard]
    assert state["paid_usdc"] == "0.000000"


@pytest.mark.parametrize(
    ("upload", "says"),
    [
        (b"\x00garbage" * 100, "not a safetensors file"),
        (adapter(rank=4), "is not of lora.rank 8"),
        (adapter(key="mlp_gate"), "not one of lora.target_modules"),
    ],
)
async def test_a_garbage_upload_ends_the_claim_unpaid_and_offers_the_shard_again(
    market: Harness, upload: bytes, says: str
) -> None:
    job = await submit(market, [shard_bytes(3)])
    node = await attach(market)
    shard = job["shards"][0]["id"]
    await claim(node, shard)
    with pytest.raises(ControlPlaneError) as rejected:
        await put(node, shard, upload)
    assert rejected.value.status == 400 and says in str(rejected.value)
    state = await job_state(market, job["id"])
    assert state["shards"][0]["status"] == "open"
    assert state["shards"][0]["claims"][0]["status"] == "rejected"
    assert says in state["shards"][0]["claims"][0]["detail"]


async def test_max_nodes_and_the_vram_need_decide_who_is_offered(market: Harness) -> None:
    job = await submit(market, [shard_bytes(3), shard_bytes(3, 3)], max_nodes=1)
    first, second = await attach(market), await attach(market)
    await claim(first, job["shards"][0]["id"])
    assert await offers(second) == []  # the job's one node is taken
    with pytest.raises(ControlPlaneError) as refused:
        await claim(second, job["shards"][1]["id"])
    assert refused.value.status == 409 and "max_nodes" in str(refused.value)
    big = job_config(resources={"min_vram_gb": 24, "max_runtime_hours": 1})
    gpu_job = await submit(market, [shard_bytes(3)], config=big)
    with pytest.raises(ControlPlaneError) as cpu:
        await claim(second, gpu_job["shards"][0]["id"])
    assert cpu.value.status == 403 and "24 GB of GPU memory" in str(cpu.value)


async def test_a_report_needs_a_receipt_that_matches_the_claim(market: Harness) -> None:
    job = await submit(market, [shard_bytes(3)])
    node = await attach(market)
    shard = job["shards"][0]["id"]
    held = await claim(node, shard)
    uploaded = await put(node, shard, adapter())
    fields = TrainingReceiptFields(
        job_id=held.job_id,
        shard_id=shard,
        claim_id=held.claim_id,
        node_pubkey=node.key.public_hex,
        adapter_sha256=uploaded.sha256,
        examples=held.examples,
        value_usdc="2.5",  # the claim pays 3.00
        completed_at="2026-01-01T00:00:00Z",
    )
    report = ShardReport(
        claim_id=held.claim_id,
        adapter_config={"peft_type": "LORA", "r": RANK, "lora_alpha": 32.0,
                        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
        eval_loss_before=3.0,
        eval_loss_after=2.0,
        steps=2,
        receipt=sign_training_receipt(fields, node.key),
    )  # fmt: skip
    with pytest.raises(ControlPlaneError) as refused:
        await node.daemon.client.post(shard_path(shard, "report"), report, AdapterUploaded)
    assert refused.value.status == 400 and "value_usdc" in str(refused.value)
    state = await job_state(market, job["id"])
    assert state["shards"][0]["claims"][0]["status"] == "active"  # it may report correctly


async def test_the_deadline_ends_the_job_and_returns_the_budget(market: Harness) -> None:
    before = await balance(market)
    job = await submit(market, [shard_bytes(3)], budget="2.00", deadline_hours=1 / 3600)
    state = await wait_for(market, job["id"], lambda s: s["status"] != "open", 15)
    assert state["status"] == "failed" and "deadline" in state["detail"]
    assert state["shards"][0]["status"] == "failed"
    assert await balance(market) == before


async def wait_for(harness: Harness, job_id: str, done: Any, timeout: float) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            state = await job_state(harness, job_id)
            if done(state):
                return state
            await asyncio.sleep(0.1)
