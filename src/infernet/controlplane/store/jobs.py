"""Job rows: one per client request, written on each state change (never per token)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.tables import jobs

JobRow = Mapping[str, Any]


async def insert_job(db: AsyncEngine, **values: Any) -> None:
    async with db.begin() as conn:
        await conn.execute(insert(jobs).values(**values))


async def update_job(
    db: AsyncEngine, job_id: str, *, only_if_status: tuple[str, ...] = (), **values: Any
) -> bool:
    """Apply `values`; with `only_if_status`, only while the job is still in one of those
    states (so a finished job is never overwritten, e.g. by a late duplicate)."""
    statement = update(jobs).where(jobs.c.id == job_id)
    if only_if_status:
        statement = statement.where(jobs.c.status.in_(only_if_status))
    async with db.begin() as conn:
        result = await conn.execute(statement.values(**values))
    return bool(result.rowcount)


async def get_job(db: AsyncEngine, job_id: str) -> JobRow | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).first()
    return cast(Mapping[str, Any], row._mapping) if row else None


async def list_jobs(
    db: AsyncEngine, account_id: str, *, limit: int, status: str | None, since: datetime | None
) -> list[JobRow]:
    query = select(jobs).where(jobs.c.account_id == account_id)
    if status:
        query = query.where(jobs.c.status == status)
    if since:
        query = query.where(jobs.c.created_at >= since)
    query = query.order_by(jobs.c.created_at.desc()).limit(limit)
    async with db.connect() as conn:
        return [cast(Mapping[str, Any], row._mapping) for row in (await conn.execute(query)).all()]
