"""The submitter's side of a training job: create it (the budget into escrow), upload
its shards, read its state, and download the adapters that were accepted.

A job is created `uploading` with the size and SHA-256 of each shard; each shard's
bytes must match what was announced and be ChatML the trainer reads. Once the last
shard is in, the job is `open` and nodes may claim. Only the account that created a
job sees it; to anyone else it does not exist.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from infernet.controlplane.errors import BadRequest, Conflict, NotFound
from infernet.controlplane.schemas.training import (
    MAX_BUDGET_USDC,
    ShardSpec,
    ShardUpload,
    ShardUploaded,
    TrainingJobCreate,
    TrainingJobCreated,
    TrainingJobPublic,
)
from infernet.controlplane.store import training as store
from infernet.controlplane.store import training_claims as claim_store
from infernet.controlplane.store.ids import iso, new_id
from infernet.controlplane.store.training import ShardRecord, TrainingJobRecord
from infernet.controlplane.training import checks
from infernet.controlplane.training.market import TrainingMarket
from infernet.controlplane.training.storage import ADAPTER_FILE, CONFIG_FILE
from infernet.protocol.money import MoneyError, to_micros, usdc
from infernet.protocol.training import TRAINING_PREFIX


def _budget(text: str) -> int:
    try:
        amount = usdc(text)
    except MoneyError as exc:
        raise BadRequest(f"budget_usdc: {exc}") from exc
    if amount <= 0:
        raise BadRequest("budget_usdc must be more than 0: it is what the nodes are paid from")
    if amount > MAX_BUDGET_USDC:
        raise BadRequest(f"budget_usdc is implausibly large (more than {MAX_BUDGET_USDC:,})")
    return to_micros(amount)


def _new_shard(
    job: TrainingJobRecord, position: int, spec: ShardSpec, budget: int, now: datetime
) -> ShardRecord:
    """A shard's pay is its share of the budget by examples (rounded down to a micro-USDC;
    the remainder goes back with the rest of the hold)."""
    return ShardRecord(
        id=new_id("shd"),
        job_id=job.id,
        position=position,
        examples=spec.examples,
        sha256=spec.sha256,
        pay_micros=budget * spec.examples // job.examples,
        status="awaiting_upload",
        attempts=0,
        claim_id=None,
        claim_expires_at=None,
        detail="",
        updated_at=now,
    )


async def create_job(
    market: TrainingMarket, account_id: str, body: TrainingJobCreate
) -> TrainingJobCreated:
    checks.require_training()
    config = checks.job_config(body.config)
    for position, spec in enumerate(body.shards):
        if spec.examples < checks.MIN_SHARD_EXAMPLES:
            raise BadRequest(
                f"shards[{position}] has {spec.examples} example(s); each shard needs at least "
                f"{checks.MIN_SHARD_EXAMPLES} (some are held out for the verifier)"
            )
    budget, now = _budget(body.budget_usdc), market.now()
    job = TrainingJobRecord(
        id=new_id("trn"),
        account_id=account_id,
        name=config.name,
        base_model=config.base_model,
        config=config.model_dump(mode="json"),
        status="uploading",
        shard_count=len(body.shards),
        examples=sum(s.examples for s in body.shards),
        budget_micros=budget,
        max_nodes=body.max_nodes,
        min_vram_gb=config.resources.min_vram_gb,
        deadline=now + timedelta(hours=body.deadline_hours),
        detail="",
        created_at=now,
        finished_at=None,
    )
    shards = [_new_shard(job, i, s, budget, now) for i, s in enumerate(body.shards)]

    async def write(conn: AsyncConnection) -> None:
        await store.insert_job(conn, job, shards)

    await market.escrow.hold(account_id, job.id, usdc(body.budget_usdc), write)
    uploads = [
        ShardUpload(
            id=s.id,
            position=s.position,
            examples=s.examples,
            upload_path=f"{TRAINING_PREFIX}/jobs/{job.id}/shards/{s.position}",
        )
        for s in shards
    ]
    return TrainingJobCreated(
        id=job.id, status=job.status, deadline=iso(job.deadline) or "", shards=uploads
    )


async def own_job(market: TrainingMarket, account_id: str, job_id: str) -> TrainingJobRecord:
    job = await store.get_job(market.db, job_id)
    if job is None or job.account_id != account_id:
        raise NotFound(f"No training job {job_id} in your account.")
    return job


async def upload_shard(
    market: TrainingMarket, account_id: str, job_id: str, position: int, data: bytes
) -> ShardUploaded:
    job = await own_job(market, account_id, job_id)
    shards = await store.shards_of(market.db, job.id)
    shard = next((s for s in shards if s.position == position), None)
    if shard is None:
        raise NotFound(f"Training job {job_id} has no shard {position}.")
    if shard.status != "awaiting_upload":
        raise Conflict(f"Shard {position} of {job_id} is uploaded already.")
    if job.status != "uploading":
        raise Conflict(f"Training job {job_id} is {job.status}; it takes no more uploads.")
    digest = hashlib.sha256(data).hexdigest()
    if digest != shard.sha256:
        raise BadRequest(
            f"Shard {position}'s SHA-256 is {digest}; the job was created with {shard.sha256}."
        )
    found = checks.shard_examples(data, f"shard {position}")
    if found != shard.examples:
        raise BadRequest(f"Shard {position} holds {found} examples, not {shard.examples}.")
    await asyncio.to_thread(market.storage.write_shard, job.id, position, data)
    await store.mark_uploaded(market.db, shard.id, market.now())
    opened = await store.open_job_if_uploaded(market.db, job.id)
    return ShardUploaded(
        id=shard.id, position=position, status="open", job_status="open" if opened else job.status
    )


async def job_status(market: TrainingMarket, account_id: str, job_id: str) -> TrainingJobPublic:
    job = await own_job(market, account_id, job_id)
    shards = await store.shards_of(market.db, job.id)
    claims = await claim_store.claims_of(market.db, job.id)
    return TrainingJobPublic.build(job, shards, claims, market.escrow.payments is not None)


async def adapter_file(
    market: TrainingMarket, account_id: str, job_id: str, shard_id: str, name: str
) -> Path:
    """One file of the accepted adapter of a shard of the caller's job."""
    job = await own_job(market, account_id, job_id)
    shard = await store.get_shard(market.db, shard_id)
    if shard is None or shard.job_id != job.id:
        raise NotFound(f"Training job {job_id} has no shard {shard_id}.")
    if name not in (ADAPTER_FILE, CONFIG_FILE):
        raise NotFound(f"An adapter has {ADAPTER_FILE} and {CONFIG_FILE}, not {name}.")
    if shard.status != "accepted":
        raise Conflict(f"Shard {shard.position} is {shard.status}: it has no accepted adapter.")
    claims = await claim_store.claims_of(market.db, job.id)
    accepted = next(c for c in claims if c.shard_id == shard.id and c.status == "accepted")
    return market.storage.adapter_dir(job.id, accepted.id) / name
