"""Job leases: which replica runs each unfinished job, and until when.

The owner renews, on every sweep, the leases of the jobs it runs (in memory); a lease
that ran out belongs to a replica that died (or lost the database, or leases a job it
does not run), and any replica may claim it. Claiming locks the rows with `FOR UPDATE
SKIP LOCKED` on PostgreSQL, so two sweepers never claim the same job and neither waits
on the other; SQLite (one process) ignores the clause. At start a control plane claims
its own jobs too (`claim_at_start`): those it leased before it stopped, or all of them
when it is the only process on the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.jobs import UNFINISHED, JobRecord
from infernet.controlplane.store.tables import jobs

RENEW_BATCH = 500  # job ids per statement (SQLite caps bound parameters)


def lease_expiry(ttl_s: float) -> datetime:
    """When a lease taken (or renewed) now runs out."""
    return utcnow() + timedelta(seconds=ttl_s)


async def renew(db: AsyncEngine, owner: str, ttl_s: float, job_ids: Iterable[str]) -> set[str]:
    """Extend the leases `owner` holds on `job_ids` (the unfinished jobs it runs); returns
    those it still holds. Only jobs the replica really runs are renewed: a row it leases
    but does not run (say, claimed by a takeover that did not finish) lapses and is
    claimed again, instead of being held by a live replica that never finishes it."""
    ids, held = sorted(job_ids), set[str]()
    expires = lease_expiry(ttl_s)
    async with db.begin() as conn:
        for start in range(0, len(ids), RENEW_BATCH):
            statement = (
                update(jobs)
                .where(
                    jobs.c.id.in_(ids[start : start + RENEW_BATCH]),
                    jobs.c.lease_owner == owner,
                    jobs.c.status.in_(UNFINISHED),
                )
                .values(lease_expires_at=expires)
                .returning(jobs.c.id)
            )
            held.update(row.id for row in (await conn.execute(statement)).all())
    return held


async def claim_expired(
    db: AsyncEngine, owner: str, ttl_s: float, limit: int = 50
) -> list[JobRecord]:
    """Take over up to `limit` unfinished jobs whose lease ran out; returns their rows."""
    now = utcnow()
    query = (
        select(jobs)
        .where(
            jobs.c.status.in_(UNFINISHED),
            or_(jobs.c.lease_expires_at < now, jobs.c.lease_expires_at.is_(None)),
        )
        .order_by(jobs.c.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    async with db.begin() as conn:
        records = [JobRecord.from_row(r._mapping) for r in (await conn.execute(query)).all()]
        if records:
            await conn.execute(
                update(jobs)
                .where(jobs.c.id.in_([r.id for r in records]))
                .values(lease_owner=owner, lease_expires_at=lease_expiry(ttl_s))
            )
    return records


async def claim_at_start(
    db: AsyncEngine, owner: str, ttl_s: float, *, everything: bool
) -> list[JobRecord]:
    """Claim, oldest first, the unfinished jobs leased to `owner` or whose lease ran out
    (`everything`: every unfinished job, for a control plane alone on its database)."""
    query = select(jobs).where(jobs.c.status.in_(UNFINISHED)).order_by(jobs.c.created_at)
    if not everything:
        query = query.where(
            or_(
                jobs.c.lease_owner == owner,
                jobs.c.lease_expires_at < utcnow(),
                jobs.c.lease_expires_at.is_(None),
            )
        )
    async with db.begin() as conn:
        rows = (await conn.execute(query.with_for_update(skip_locked=True))).all()
        records = [JobRecord.from_row(r._mapping) for r in rows]
        ids = [r.id for r in records]
        for start in range(0, len(ids), RENEW_BATCH):
            await conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(ids[start : start + RENEW_BATCH]))
                .values(lease_owner=owner, lease_expires_at=lease_expiry(ttl_s))
            )
    return records
