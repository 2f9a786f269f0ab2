"""Job rows: one per client request, written on each state change (never per token).

A row moves pending -> processing -> completed | failed, and back from processing to
pending when its node is lost (failover, takeover). Each operation below is one of those
moves and names it; every move but `insert` applies only while the job is unfinished, so
a finished job is never overwritten (say, by a late duplicate message). The moves of all
jobs in flight share their commits (store/group_commit.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Update, bindparam, case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.group_commit import GroupCommit
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.tables import jobs, nodes

log = logging.getLogger("infernet.store")
JobStatus = Literal["pending", "processing", "completed", "failed"]
UNFINISHED: tuple[JobStatus, ...] = ("pending", "processing")


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as stored. `request` is the submitted `JobCreate` as JSON; `segments` what
    each node produced (money/accounting.Segment as dicts)."""

    id: str
    account_id: str
    model: str
    routing_key: str
    status: JobStatus
    request: dict[str, Any]
    created_at: datetime
    attempts: int = 0
    node_id: str | None = None
    content: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage_source: str | None = None
    finish_reason: str | None = None
    error: str | None = None
    error_message: str | None = None
    segments: list[dict[str, Any]] | None = None
    provenance: dict[str, Any] | None = None
    routing: dict[str, Any] | None = None  # why the last attempt's node was chosen
    started_at: datetime | None = None
    completed_at: datetime | None = None
    latency_ms: float | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> JobRecord:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class Completion:
    """What a completed job stores: the node that finished it, its text and real usage."""

    node_id: str
    content: str
    prompt_tokens: int
    completion_tokens: int
    usage_source: str
    finish_reason: str | None
    latency_ms: float
    segments: list[dict[str, Any]]
    provenance: dict[str, object] | None = None
    routing: dict[str, Any] | None = None  # why the answering attempt's node was chosen


def create(db: GroupCommit, job: JobRecord) -> asyncio.Future[int]:
    """Store a newly submitted job: queued, the future done once it is committed. The
    commit survives a crash of this process, not a power loss (group_commit.py); a power
    loss that took it also took every piece and move after it, while the job's hold,
    stored durably before, is released at the next start (money/holds.py: a job never
    stored)."""
    values = {f.name: getattr(job, f.name) for f in fields(job)}
    return db.queue(_INSERT, values)


# Built once: each write binds its values (the SET columns are the keys given), so a
# statement is compiled once per kind of move, not once per job.
_INSERT = insert(jobs)
# The statuses a move applies in are compared one by one, not by an expanding `IN`, whose
# SQL is made per execution (store/driver_sql.py runs these as the driver takes them).
_MOVES = {
    only_if: update(jobs).where(
        jobs.c.id == bindparam("moved_id"), or_(*(jobs.c.status == s for s in only_if))
    )
    for only_if in (UNFINISHED, ("processing",))
}


def _moving(
    job_id: str, only_if: tuple[JobStatus, ...], **values: Any
) -> tuple[Update, dict[str, Any]]:
    return _MOVES[only_if], {"moved_id": job_id, **values}


async def _move(
    db: GroupCommit, job_id: str, only_if: tuple[JobStatus, ...], **values: Any
) -> bool:
    return bool(await db.execute(*_moving(job_id, only_if, **values)))


def mark_processing(
    db: GroupCommit,
    job_id: str,
    node_id: str,
    attempt: int,
    routing: dict[str, Any] | None = None,
) -> asyncio.Future[int]:
    """Attempt `attempt` of the job runs on `node_id`, chosen for `routing`'s reason.
    Queued, not waited for (it stays off the answer's path); the job's later moves queue
    behind it, so none is overtaken (a take-back's `requeue` finds it processing, a
    `complete` finds it unfinished)."""
    written = db.queue(
        *_moving(
            job_id,
            UNFINISHED,
            status="processing",
            node_id=node_id,
            started_at=utcnow(),
            attempts=attempt,
            routing=routing,
        )
    )
    written.add_done_callback(_log_failure)
    return written


def _log_failure(written: asyncio.Future[int]) -> None:
    if not written.cancelled() and (exc := written.exception()) is not None:
        log.error("could not store that a job is processing", exc_info=exc)


async def complete(db: GroupCommit, job_id: str, done: Completion) -> bool:
    """Finish the job as completed; False when it was finished already."""
    return await _move(
        db,
        job_id,
        UNFINISHED,  # the processing write may still lag behind the answer
        status="completed",
        node_id=done.node_id,
        content=done.content,
        prompt_tokens=done.prompt_tokens,
        completion_tokens=done.completion_tokens,
        usage_source=done.usage_source,
        finish_reason=done.finish_reason,
        completed_at=utcnow(),
        latency_ms=done.latency_ms,
        segments=done.segments,
        provenance=done.provenance,
        routing=done.routing,
    )


async def fail(db: GroupCommit, job_id: str, code: str, message: str) -> bool:
    """Finish the job as failed; False when it was finished already."""
    return await _move(
        db,
        job_id,
        UNFINISHED,
        status="failed",
        error=code,
        error_message=message,
        completed_at=utcnow(),
    )


async def requeue(
    db: GroupCommit, job_id: str, segments: list[dict[str, Any]] | None = None
) -> bool:
    """The running job lost its node and waits for another; `segments` (when given) is
    what the nodes produced so far, which a replica taking it over needs."""
    values: dict[str, Any] = {"status": "pending", "node_id": None}
    if segments is not None:
        values["segments"] = segments
    return await _move(db, job_id, ("processing",), **values)


async def unfinished_among(db: AsyncEngine, job_ids: list[str]) -> set[str]:
    """Which of `job_ids` are stored and not finished."""
    query = select(jobs.c.id).where(jobs.c.id.in_(job_ids), jobs.c.status.in_(UNFINISHED))
    async with db.connect() as conn:
        return {str(job_id) for job_id in (await conn.execute(query)).scalars()}


async def get(db: AsyncEngine, job_id: str) -> JobRecord | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).first()
    return JobRecord.from_row(row._mapping) if row else None


async def for_account(
    db: AsyncEngine,
    account_id: str,
    *,
    limit: int,
    status: str | None = None,
    since: datetime | None = None,
) -> list[JobRecord]:
    """The account's jobs, newest first."""
    query = select(jobs).where(jobs.c.account_id == account_id)
    if status:
        query = query.where(jobs.c.status == status)
    if since:
        query = query.where(jobs.c.created_at >= since)
    query = query.order_by(jobs.c.created_at.desc()).limit(limit)
    async with db.connect() as conn:
        return [JobRecord.from_row(r._mapping) for r in (await conn.execute(query)).all()]


async def seen_by(db: AsyncEngine, account_id: str, *, limit: int) -> list[JobRecord]:
    """The jobs an account submitted or its nodes ran, newest first (the dashboard)."""
    owned = select(nodes.c.id).where(nodes.c.account_id == account_id)
    query = (
        select(jobs)
        .where(or_(jobs.c.account_id == account_id, jobs.c.node_id.in_(owned)))
        .order_by(jobs.c.created_at.desc())
        .limit(limit)
    )
    async with db.connect() as conn:
        return [JobRecord.from_row(r._mapping) for r in (await conn.execute(query)).all()]


@dataclass(frozen=True, slots=True)
class JobCounts:
    """A node's jobs: completed today, in the last 7 days and ever; failed ever."""

    today: int = 0
    week: int = 0
    all_time: int = 0
    failed: int = 0


async def counts_by_node(db: AsyncEngine, node_ids: list[str]) -> dict[str, JobCounts]:
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    done = jobs.c.status == "completed"
    query = (
        select(
            jobs.c.node_id,
            func.sum(case((done & (jobs.c.created_at >= today), 1), else_=0)),
            func.sum(case((done & (jobs.c.created_at >= now - timedelta(days=7)), 1), else_=0)),
            func.sum(case((done, 1), else_=0)),
            func.sum(case((jobs.c.status == "failed", 1), else_=0)),
        )
        .where(jobs.c.node_id.in_(node_ids))
        .group_by(jobs.c.node_id)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {
        r[0]: JobCounts(int(r[1] or 0), int(r[2] or 0), int(r[3] or 0), int(r[4] or 0))
        for r in rows
    }
