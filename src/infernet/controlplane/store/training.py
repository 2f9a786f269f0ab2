"""Open-market training rows: jobs, their shards, and every claim a node made on a shard.

A shard moves `awaiting_upload` → `open` → `claimed` → `reported` → `accepted`, or back
to `open` when its claim lapses, is given up or is rejected (each such end counts an
attempt; the last allowed attempt makes it `failed`). Every move is one conditional
UPDATE on the state it expects, so of two nodes claiming one shard at once exactly one
wins, and a late renewal or report of a claim that already ended changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store.tables import training_jobs, training_shards

JobStatus = Literal["uploading", "open", "done", "partial", "failed"]
ClaimEnd = Literal["expired", "released", "rejected", "unverified"]
LIVE_JOB: tuple[JobStatus, ...] = ("uploading", "open")
# Claims that count as a node working on, or having delivered, a job's shard.
BUSY_CLAIM = ("active", "reported", "verifying", "accepted")
SETTLED_SHARD = ("accepted", "failed")

R = TypeVar("R")


def _aware(value: Any) -> Any:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


async def row_by_id(conn: AsyncConnection, table: Table, row_id: str) -> Mapping[Any, Any] | None:
    row = (await conn.execute(select(table).where(table.c.id == row_id))).first()
    return row._mapping if row else None


def record(cls: type[R], row: Mapping[Any, Any]) -> R:
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    return cls(**{name: _aware(row[name]) for name in names})


@dataclass(frozen=True, slots=True)
class TrainingJobRecord:
    id: str
    account_id: str
    name: str
    base_model: str
    config: dict[str, Any]
    status: str
    shard_count: int
    examples: int
    budget_micros: int
    max_nodes: int
    min_vram_gb: float
    deadline: datetime
    detail: str
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class ShardRecord:
    id: str
    job_id: str
    position: int
    examples: int
    sha256: str
    pay_micros: int
    status: str
    attempts: int
    claim_id: str | None
    claim_expires_at: datetime | None
    detail: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimRecord:
    id: str
    shard_id: str
    job_id: str
    node_id: str
    status: str
    started_at: datetime
    expires_at: datetime
    reported_at: datetime | None = None
    decided_at: datetime | None = None
    adapter_sha256: str | None = None
    adapter_bytes: int | None = None
    steps: int | None = None
    loss_before: float | None = None
    loss_after: float | None = None
    verified_before: float | None = None
    verified_after: float | None = None
    verify_started_at: datetime | None = None
    verify_tries: int = 0
    receipt: dict[str, Any] | None = None
    detail: str = ""


# -- jobs ------------------------------------------------------------------------------


async def insert_job(
    conn: AsyncConnection, job: TrainingJobRecord, shards: list[ShardRecord]
) -> None:
    """Inside the escrow hold's transaction: the job and its shards."""
    await conn.execute(insert(training_jobs).values(**dataclasses.asdict(job)))
    for shard in shards:
        await conn.execute(insert(training_shards).values(**dataclasses.asdict(shard)))


async def get_job(db: AsyncEngine, job_id: str) -> TrainingJobRecord | None:
    async with db.connect() as conn:
        row = (
            await conn.execute(select(training_jobs).where(training_jobs.c.id == job_id))
        ).first()
    return record(TrainingJobRecord, row._mapping) if row else None


async def live_jobs(db: AsyncEngine) -> list[TrainingJobRecord]:
    query = select(training_jobs).where(training_jobs.c.status.in_(LIVE_JOB))
    async with db.connect() as conn:
        return [record(TrainingJobRecord, r._mapping) for r in await conn.execute(query)]


async def open_job_if_uploaded(db: AsyncEngine, job_id: str) -> bool:
    """`uploading` → `open` once no shard awaits its upload."""
    waiting = select(training_shards.c.id).where(
        training_shards.c.job_id == job_id, training_shards.c.status == "awaiting_upload"
    )
    async with db.begin() as conn:
        if (await conn.execute(waiting)).first() is not None:
            return False
        result = await conn.execute(
            update(training_jobs)
            .where(training_jobs.c.id == job_id, training_jobs.c.status == "uploading")
            .values(status="open")
        )
    return bool(result.rowcount)


async def finish_job(
    db: AsyncEngine, job_id: str, status: JobStatus, detail: str, now: datetime
) -> bool:
    """End a live job: shards not yet trained fail with `detail`. True if this call ended it."""
    async with db.begin() as conn:
        result = await conn.execute(
            update(training_jobs)
            .where(training_jobs.c.id == job_id, training_jobs.c.status.in_(LIVE_JOB))
            .values(status=status, detail=detail, finished_at=now)
        )
        if result.rowcount:
            await conn.execute(
                update(training_shards)
                .where(
                    training_shards.c.job_id == job_id,
                    training_shards.c.status.in_(("awaiting_upload", "open")),
                )
                .values(status="failed", detail=detail, updated_at=now)
            )
    return bool(result.rowcount)


# -- shards ----------------------------------------------------------------------------


async def shards_of(db: AsyncEngine, job_id: str) -> list[ShardRecord]:
    query = (
        select(training_shards)
        .where(training_shards.c.job_id == job_id)
        .order_by(training_shards.c.position)
    )
    async with db.connect() as conn:
        return [record(ShardRecord, r._mapping) for r in await conn.execute(query)]


async def get_shard(db: AsyncEngine, shard_id: str) -> ShardRecord | None:
    async with db.connect() as conn:
        row = await row_by_id(conn, training_shards, shard_id)
    return record(ShardRecord, row) if row else None


async def mark_uploaded(db: AsyncEngine, shard_id: str, now: datetime) -> bool:
    async with db.begin() as conn:
        result = await conn.execute(
            update(training_shards)
            .where(training_shards.c.id == shard_id, training_shards.c.status == "awaiting_upload")
            .values(status="open", updated_at=now)
        )
    return bool(result.rowcount)


async def open_offers(
    db: AsyncEngine, now: datetime
) -> list[tuple[TrainingJobRecord, ShardRecord]]:
    """Open shards of open jobs whose deadline is ahead, oldest job first."""
    query = (
        select(training_jobs, training_shards)
        .join(training_shards, training_shards.c.job_id == training_jobs.c.id)
        .where(
            training_jobs.c.status == "open",
            training_jobs.c.deadline > now,
            training_shards.c.status == "open",
        )
        .order_by(training_jobs.c.created_at, training_shards.c.position)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    offers = []
    for row in rows:
        job = {c.name: row._mapping[training_jobs.c[c.name]] for c in training_jobs.columns}
        shard = {c.name: row._mapping[training_shards.c[c.name]] for c in training_shards.columns}
        offers.append((record(TrainingJobRecord, job), record(ShardRecord, shard)))
    return offers
