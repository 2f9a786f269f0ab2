"""Claims on training shards: a node takes a shard (`claim_shard`), keeps it alive
(`renew_claim`), delivers (`record_adapter`, `record_report`), and the claim ends paid
(`accept_claim`, inside the payment's transaction) or unpaid (`end_claim`: lapsed,
released, rejected, unverifiable), which offers the shard again. See store/training.py
for the shard's states.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store.tables import training_claims, training_shards
from infernet.controlplane.store.training import (
    ClaimEnd,
    ClaimRecord,
    ShardRecord,
    record,
    row_by_id,
)


async def claims_of(db: AsyncEngine, job_id: str) -> list[ClaimRecord]:
    query = (
        select(training_claims)
        .where(training_claims.c.job_id == job_id)
        .order_by(training_claims.c.started_at)
    )
    async with db.connect() as conn:
        return [record(ClaimRecord, r._mapping) for r in await conn.execute(query)]


async def get_claim(db: AsyncEngine, claim_id: str) -> ClaimRecord | None:
    async with db.connect() as conn:
        row = await row_by_id(conn, training_claims, claim_id)
    return record(ClaimRecord, row) if row else None


async def node_claims(
    db: AsyncEngine, node_id: str, statuses: tuple[str, ...]
) -> list[ClaimRecord]:
    query = select(training_claims).where(
        training_claims.c.node_id == node_id, training_claims.c.status.in_(statuses)
    )
    async with db.connect() as conn:
        return [record(ClaimRecord, r._mapping) for r in await conn.execute(query)]


async def claim_shard(db: AsyncEngine, claim: ClaimRecord) -> bool:
    """`open` → `claimed` by `claim`, atomically; False when another node was faster."""
    async with db.begin() as conn:
        result = await conn.execute(
            update(training_shards)
            .where(training_shards.c.id == claim.shard_id, training_shards.c.status == "open")
            .values(
                status="claimed",
                claim_id=claim.id,
                claim_expires_at=claim.expires_at,
                updated_at=claim.started_at,
            )
        )
        if not result.rowcount:
            return False
        await conn.execute(insert(training_claims).values(**dataclasses.asdict(claim)))
    return True


async def renew_claim(db: AsyncEngine, claim_id: str, expires_at: datetime) -> bool:
    async with db.begin() as conn:
        result = await conn.execute(
            update(training_claims)
            .where(training_claims.c.id == claim_id, training_claims.c.status == "active")
            .values(expires_at=expires_at)
        )
        if result.rowcount:
            await conn.execute(
                update(training_shards)
                .where(training_shards.c.claim_id == claim_id)
                .values(claim_expires_at=expires_at)
            )
    return bool(result.rowcount)


async def record_adapter(db: AsyncEngine, claim_id: str, sha256: str, size: int) -> bool:
    async with db.begin() as conn:
        result = await conn.execute(
            update(training_claims)
            .where(training_claims.c.id == claim_id, training_claims.c.status == "active")
            .values(adapter_sha256=sha256, adapter_bytes=size)
        )
    return bool(result.rowcount)


async def record_report(db: AsyncEngine, claim: ClaimRecord, now: datetime) -> bool:
    """An active claim's report (losses, steps, receipt): claim and shard `reported`."""
    async with db.begin() as conn:
        result = await conn.execute(
            update(training_claims)
            .where(training_claims.c.id == claim.id, training_claims.c.status == "active")
            .values(
                status="reported",
                reported_at=now,
                steps=claim.steps,
                loss_before=claim.loss_before,
                loss_after=claim.loss_after,
                receipt=claim.receipt,
            )
        )
        if result.rowcount:
            await conn.execute(
                update(training_shards)
                .where(training_shards.c.claim_id == claim.id)
                .values(status="reported", claim_expires_at=None, updated_at=now)
            )
    return bool(result.rowcount)


async def end_claim(
    db: AsyncEngine,
    claim: ClaimRecord,
    status: ClaimEnd,
    detail: str,
    now: datetime,
    max_attempts: int,
) -> bool:
    """The claim ends unpaid; its shard is offered again, or fails after `max_attempts`."""
    async with db.begin() as conn:
        result = await conn.execute(
            update(training_claims)
            .where(
                training_claims.c.id == claim.id,
                training_claims.c.status.in_(("active", "reported", "verifying")),
            )
            .values(status=status, detail=detail, decided_at=now)
        )
        if not result.rowcount:
            return False
        shard = await _shard_in(conn, claim.shard_id)
        attempts = shard.attempts + 1
        await conn.execute(
            update(training_shards)
            .where(training_shards.c.id == claim.shard_id, training_shards.c.claim_id == claim.id)
            .values(
                status="failed" if attempts >= max_attempts else "open",
                attempts=attempts,
                claim_id=None,
                claim_expires_at=None,
                detail=detail,
                updated_at=now,
            )
        )
    return True


async def _shard_in(conn: AsyncConnection, shard_id: str) -> ShardRecord:
    row = (
        await conn.execute(select(training_shards).where(training_shards.c.id == shard_id))
    ).one()
    return record(ShardRecord, row._mapping)


async def lapsed_claims(db: AsyncEngine, now: datetime) -> list[ClaimRecord]:
    query = select(training_claims).where(
        training_claims.c.status == "active", training_claims.c.expires_at < now
    )
    async with db.connect() as conn:
        return [record(ClaimRecord, r._mapping) for r in await conn.execute(query)]


async def take_for_verification(
    db: AsyncEngine, now: datetime, stale_before: datetime, retry_before: datetime
) -> ClaimRecord | None:
    """The oldest reported claim (not tried since `retry_before`), or one whose
    verification stalled since `stale_before` (its replica died), moved to `verifying` by
    this call alone: the UPDATE repeats the condition, so of two replicas one wins."""
    c = training_claims.c
    ready = (c.status == "reported") & (
        c.verify_started_at.is_(None) | (c.verify_started_at < retry_before)
    )
    stalled = (c.status == "verifying") & (c.verify_started_at < stale_before)
    query = select(c.id).where(ready | stalled).order_by(c.reported_at).limit(1)
    async with db.begin() as conn:
        row = (await conn.execute(query)).first()
        if row is None:
            return None
        result = await conn.execute(
            update(training_claims)
            .where(c.id == row.id, ready | stalled)
            .values(status="verifying", verify_started_at=now, verify_tries=c.verify_tries + 1)
        )
        taken = await row_by_id(conn, training_claims, row.id) if result.rowcount else None
    return record(ClaimRecord, taken) if taken else None


async def back_to_reported(db: AsyncEngine, claim_id: str, detail: str) -> None:
    """The verifier could not run (not the node's fault): try again later."""
    async with db.begin() as conn:
        await conn.execute(
            update(training_claims)
            .where(training_claims.c.id == claim_id, training_claims.c.status == "verifying")
            .values(status="reported", detail=detail)
        )


async def accept_claim(
    conn: AsyncConnection,
    claim: ClaimRecord,
    verified: tuple[float, float],
    receipt: dict[str, Any] | None,
    now: datetime,
) -> None:
    """Inside the payment's transaction: the claim and its shard are `accepted`."""
    await conn.execute(
        update(training_claims)
        .where(training_claims.c.id == claim.id)
        .values(
            status="accepted",
            verified_before=verified[0],
            verified_after=verified[1],
            receipt=receipt,
            decided_at=now,
            detail="",
        )
    )
    await conn.execute(
        update(training_shards)
        .where(training_shards.c.id == claim.shard_id)
        .values(status="accepted", detail="", updated_at=now)
    )


async def record_verified(
    db: AsyncEngine, claim_id: str, verified: tuple[float | None, float | None]
) -> None:
    """What the verifier measured for a claim it then rejected (kept for the audit trail)."""
    async with db.begin() as conn:
        await conn.execute(
            update(training_claims)
            .where(training_claims.c.id == claim_id)
            .values(verified_before=verified[0], verified_after=verified[1])
        )
