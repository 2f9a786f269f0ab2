"""The node's side of a training job: what it may claim, the claim, keeping it alive,
giving it up, fetching the shard, uploading the adapter, and the report.

A node may claim a shard when it is approved, heartbeating and not barred for offences
(jobs/router.py's MAX_OFFENCES), its tier has the job's `min_vram_gb` (`cpu` counts as
0 GB), it holds no other active claim, it has not already failed that shard, and the
job's `max_nodes` is not taken by other nodes. (That its operator opted in is the
daemon's to honour: it asks only with `accept_training` on.)
A claim lasts `Settings.training_claim_ttl_s` and is renewed while the node trains, up
to the job's deadline and `resources.max_runtime_hours` (+ CLAIM_GRACE) after it was
made. A claim not renewed lapses unpaid (sweeper.py) and the shard is offered again.

An upload that is not a LoRA adapter of the job's shape ends the claim at once, unpaid
(`rejected`); a report whose receipt disagrees with the claim is refused, and the node
may send a correct one while its claim lasts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from datetime import datetime, timedelta
from pathlib import Path

from infernet.controlplane.errors import BadRequest, Conflict, Forbidden, NotFound
from infernet.controlplane.jobs.router import MAX_OFFENCES
from infernet.controlplane.nodes.registry import NodeState
from infernet.controlplane.store import training as store
from infernet.controlplane.store import training_claims as claim_store
from infernet.controlplane.store.ids import iso, new_id
from infernet.controlplane.store.training import (
    BUSY_CLAIM,
    ClaimEnd,
    ClaimRecord,
    ShardRecord,
    TrainingJobRecord,
)
from infernet.controlplane.training import checks
from infernet.controlplane.training.market import TrainingMarket
from infernet.protocol.money import from_micros, show
from infernet.protocol.receipts import normalize_usdc
from infernet.protocol.tiers import TIER_SIZES_GB
from infernet.protocol.training import (
    AdapterUploaded,
    ClaimReleased,
    ClaimRenewed,
    ReportAccepted,
    ShardClaim,
    ShardOffer,
    ShardOffers,
    ShardReport,
    TrainingReceipt,
    TrainingReceiptError,
    check_node_signature,
)

CLAIM_GRACE = timedelta(minutes=10)
UNPAID_ENDS = ("expired", "released", "rejected", "unverified")


def _why_not(node: NodeState, job: TrainingJobRecord) -> str | None:
    """Why this node may not train for `job`, or None."""
    if not node.approved:
        return "this node waits for its owner's approval"
    if node.last_seen <= 0:
        return "this node has sent no heartbeat yet"
    if node.offences >= MAX_OFFENCES:
        return f"this node was caught {node.offences} times claiming more than it did"
    have = TIER_SIZES_GB.get(node.vram_tier, 0)
    if have < job.min_vram_gb:
        return (
            f"training job {job.id} needs {job.min_vram_gb:g} GB of GPU memory and this "
            f"node's tier is {node.vram_tier}"
        )
    return None


def _open_to(
    node_id: str, job: TrainingJobRecord, shard_id: str, claims: list[ClaimRecord]
) -> bool:
    if any(
        c.node_id == node_id and c.shard_id == shard_id and c.status in UNPAID_ENDS for c in claims
    ):
        return False  # it failed this shard once; another node gets the next try
    working = {c.node_id for c in claims if c.status in BUSY_CLAIM}
    return node_id in working or len(working) < job.max_nodes


async def offers(market: TrainingMarket, node: NodeState) -> ShardOffers:
    if await claim_store.node_claims(market.db, node.node_id, ("active",)):
        return ShardOffers()
    found: list[ShardOffer] = []
    claims: dict[str, list[ClaimRecord]] = {}  # per job, read once
    for job, shard in await store.open_offers(market.db, market.now()):
        if _why_not(node, job) is not None:
            continue
        if job.id not in claims:
            claims[job.id] = await claim_store.claims_of(market.db, job.id)
        if _open_to(node.node_id, job, shard.id, claims[job.id]):
            found.append(
                ShardOffer(
                    shard_id=shard.id,
                    job_id=job.id,
                    name=job.name,
                    base_model=job.base_model,
                    examples=shard.examples,
                    pay_usdc=show(from_micros(shard.pay_micros)),
                    min_vram_gb=job.min_vram_gb,
                    deadline=iso(job.deadline) or "",
                )
            )
    return ShardOffers(shards=found)


def _expiry(market: TrainingMarket, job: TrainingJobRecord, started: datetime) -> datetime:
    hours = float(job.config["resources"]["max_runtime_hours"])
    limit = started + timedelta(hours=hours) + CLAIM_GRACE
    ttl = timedelta(seconds=market.settings.training_claim_ttl_s)
    return min(market.now() + ttl, job.deadline, limit)


async def _claimable(
    market: TrainingMarket, node: NodeState, shard_id: str
) -> tuple[TrainingJobRecord, ShardRecord]:
    shard = await store.get_shard(market.db, shard_id)
    job = await store.get_job(market.db, shard.job_id) if shard else None
    if shard is None or job is None:
        raise NotFound(f"No training shard {shard_id}.")
    if job.status != "open" or market.now() >= job.deadline:
        raise Conflict(f"Training job {job.id} is not open for claims ({job.status}).")
    if (reason := _why_not(node, job)) is not None:
        raise Forbidden(f"Cannot claim: {reason}.")
    held = await claim_store.node_claims(market.db, node.node_id, ("active",))
    if held:
        raise Conflict(f"This node holds claim {held[0].id}; report or release it first.")
    if not _open_to(node.node_id, job, shard.id, await claim_store.claims_of(market.db, job.id)):
        raise Conflict(
            f"Shard {shard_id} is not open to this node (it failed it before, or the job's "
            f"max_nodes of {job.max_nodes} is reached)."
        )
    return job, shard


async def claim(market: TrainingMarket, node: NodeState, shard_id: str) -> ShardClaim:
    async with market.claim_lock:
        job, shard = await _claimable(market, node, shard_id)
        now = market.now()
        record = ClaimRecord(
            new_id("clm"), shard.id, job.id, node.node_id, "active", now, _expiry(market, job, now)
        )
        if not await claim_store.claim_shard(market.db, record):
            raise Conflict(f"Shard {shard_id} was claimed by another node first.")
    return ShardClaim(
        claim_id=record.id,
        shard_id=shard.id,
        job_id=job.id,
        config=job.config,
        examples=shard.examples,
        data_sha256=shard.sha256,
        pay_usdc=show(from_micros(shard.pay_micros)),
        expires_at=iso(record.expires_at) or "",
        renew_every_s=market.settings.training_claim_ttl_s / 3,
    )


async def _held(
    market: TrainingMarket, node: NodeState, shard_id: str
) -> tuple[TrainingJobRecord, ShardRecord, ClaimRecord]:
    """The job, shard and this node's active claim on it; 409 when it holds none."""
    shard = await store.get_shard(market.db, shard_id)
    if shard is None:
        raise NotFound(f"No training shard {shard_id}.")
    claim = await claim_store.get_claim(market.db, shard.claim_id) if shard.claim_id else None
    job = await store.get_job(market.db, shard.job_id)
    if claim is None or job is None or claim.node_id != node.node_id or claim.status != "active":
        raise Conflict(
            f"This node holds no active claim on shard {shard_id}: it lapsed, ended, or was "
            "never made. Work on it is not paid."
        )
    return job, shard, claim


async def renew(market: TrainingMarket, node: NodeState, shard_id: str) -> ClaimRenewed:
    job, _, claim = await _held(market, node, shard_id)
    expires = _expiry(market, job, claim.started_at)
    if expires <= market.now():
        why = "it reached the job's deadline or resources.max_runtime_hours; not paid"
        await _end(market, claim, "expired", why)
        raise Conflict(f"Claim {claim.id} cannot be renewed: {why}.")
    if not await claim_store.renew_claim(market.db, claim.id, expires):
        raise Conflict(f"Claim {claim.id} ended meanwhile.")
    return ClaimRenewed(claim_id=claim.id, expires_at=iso(expires) or "")


async def release(market: TrainingMarket, node: NodeState, shard_id: str) -> ClaimReleased:
    _, _, claim = await _held(market, node, shard_id)
    await _end(market, claim, "released", "the node gave the shard back (not paid)")
    return ClaimReleased(claim_id=claim.id, status="released")


async def shard_data(market: TrainingMarket, node: NodeState, shard_id: str) -> Path:
    job, shard, _ = await _held(market, node, shard_id)
    return market.storage.shard(job.id, shard.position)


async def _end(market: TrainingMarket, claim: ClaimRecord, status: ClaimEnd, why: str) -> None:
    attempts = market.settings.training_max_attempts
    await claim_store.end_claim(market.db, claim, status, why, market.now(), attempts)


async def put_adapter(
    market: TrainingMarket, node: NodeState, shard_id: str, data: bytes
) -> AdapterUploaded:
    job, _, claim = await _held(market, node, shard_id)
    config = checks.job_config(job.config)
    path = await asyncio.to_thread(market.storage.write_adapter, job.id, claim.id, data)
    try:
        await asyncio.to_thread(checks.adapter_tensors, path, config)
    except checks.AdapterRejected as exc:
        await _end(market, claim, "rejected", f"garbage upload, not paid: {exc}")
        raise BadRequest(f"Adapter rejected, and claim {claim.id} ended unpaid: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if not await claim_store.record_adapter(market.db, claim.id, digest, len(data)):
        raise Conflict(f"Claim {claim.id} ended meanwhile.")
    return AdapterUploaded(claim_id=claim.id, sha256=digest, size_bytes=len(data))


def _check_receipt(
    node: NodeState, shard: ShardRecord, claim: ClaimRecord, receipt: TrainingReceipt
) -> None:
    expected = {
        "job_id": claim.job_id,
        "shard_id": shard.id,
        "claim_id": claim.id,
        "adapter_sha256": claim.adapter_sha256,
        "examples": shard.examples,
        "value_usdc": normalize_usdc(from_micros(shard.pay_micros)),
    }
    wrong = [name for name, value in expected.items() if getattr(receipt, name) != value]
    if wrong:
        raise BadRequest(f"The receipt disagrees with the claim on: {', '.join(wrong)}.")
    try:
        check_node_signature(receipt, node.public_key)
    except TrainingReceiptError as exc:
        raise BadRequest(f"The receipt is refused: {exc}.") from exc


async def report(
    market: TrainingMarket, node: NodeState, shard_id: str, body: ShardReport
) -> ReportAccepted:
    job, shard, claim = await _held(market, node, shard_id)
    if body.claim_id != claim.id:
        raise Conflict(f"This node's claim on shard {shard_id} is {claim.id}, not {body.claim_id}.")
    if claim.adapter_sha256 is None:
        raise Conflict(f"Upload the adapter first: PUT /api/v1/training/shards/{shard_id}/adapter.")
    try:
        checks.adapter_config(body.adapter_config, checks.job_config(job.config))
    except checks.AdapterRejected as exc:
        await _end(market, claim, "rejected", f"garbage upload, not paid: {exc}")
        raise BadRequest(f"Adapter rejected, and claim {claim.id} ended unpaid: {exc}") from exc
    _check_receipt(node, shard, claim, body.receipt)
    await asyncio.to_thread(
        market.storage.write_adapter_config, job.id, claim.id, body.adapter_config
    )
    reported = dataclasses.replace(
        claim,
        steps=body.steps,
        loss_before=body.eval_loss_before,
        loss_after=body.eval_loss_after,
        receipt=body.receipt.model_dump(mode="json"),
    )
    if not await claim_store.record_report(market.db, reported, market.now()):
        raise Conflict(f"Claim {claim.id} ended meanwhile.")
    return ReportAccepted(claim_id=claim.id, status="reported")
