"""Rows counted by time bucket, for the dashboard's charts: one `GROUP BY` per series,
the same SQL on SQLite and PostgreSQL.

Buckets are `step_s` seconds long from `since` (bucket 0 starts there). Time arithmetic
is the one thing the two databases spell differently, so it is two small constructs
compiled per dialect: `EpochSeconds` (SQLite: `julianday`, PostgreSQL: `EXTRACT(EPOCH)`)
and `Whole` (the integer part of a value never negative here: SQLite's `CAST AS INTEGER`
truncates, PostgreSQL's rounds, so there it is `FLOOR`).

Job series come from the rows the job manager writes anyway (store/jobs.py): a job
completed in a bucket counts there; `started_at` is written at the answering attempt's
first token (jobs/rows.py), so `started_at - created_at` is its time to first token and
`completed_at - started_at` its generation time. Earnings are the ledger's postings to
the node's owner for the jobs the node finished (a job split by failover counts for the
node that finished it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from infernet.controlplane.store.sample_tables import node_samples
from infernet.controlplane.store.tables import jobs, ledger_postings, ledger_transactions


class EpochSeconds(FunctionElement[float]):
    """Seconds since 1970 of a stored timestamp (UTC)."""

    type = Float()
    inherit_cache = True


class Whole(FunctionElement[int]):
    """The integer part of a non-negative number."""

    type = Integer()
    inherit_cache = True


@compiles(EpochSeconds, "sqlite")
def _epoch_sqlite(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(EpochSeconds, "postgresql")
def _epoch_postgresql(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


@compiles(Whole, "sqlite")
def _whole_sqlite(element: Whole, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


@compiles(Whole, "postgresql")
def _whole_postgresql(element: Whole, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(FLOOR({compiler.process(element.clauses, **kw)}) AS INTEGER)"


def bucket_of(column: Any, since: datetime, step_s: float) -> ColumnElement[int]:
    """Which bucket `column`'s moment falls in (for rows at or after `since`)."""
    return Whole((EpochSeconds(column) - since.timestamp()) / step_s)


def _seconds_between(start: Any, end: Any) -> ColumnElement[float]:
    return EpochSeconds(end) - EpochSeconds(start)


@dataclass(frozen=True, slots=True)
class JobBucket:
    """The completed jobs of one bucket (one node's or one model's)."""

    jobs: int
    completion_tokens: int
    generation_s: float  # summed over jobs that generated for some time
    generated_tokens: int  # those jobs' completion tokens (tokens/s = this / generation_s)
    ttft_s: float  # summed over `timed` jobs
    timed: int
    cache_routed: int  # jobs sent to their node for what its cache probably held


async def job_buckets(
    db: AsyncEngine,
    *,
    since: datetime,
    step_s: float,
    node_id: str | None = None,
    routing_key: str | None = None,
) -> dict[int, JobBucket]:
    """Bucket -> the completed jobs of `node_id` (or of `routing_key`) since `since`."""
    generation = _seconds_between(jobs.c.started_at, jobs.c.completed_at)
    ttft = _seconds_between(jobs.c.created_at, jobs.c.started_at)
    generating = and_(jobs.c.started_at.is_not(None), generation > 0)
    timed = and_(jobs.c.started_at.is_not(None), ttft >= 0)
    cached = jobs.c.routing["reason"].as_string() == "cache"
    bucket = bucket_of(jobs.c.completed_at, since, step_s).label("bucket")
    query = (
        select(
            bucket,
            func.count(),
            func.sum(jobs.c.completion_tokens),
            func.sum(case((generating, generation), else_=0.0)),
            func.sum(case((generating, jobs.c.completion_tokens), else_=0)),
            func.sum(case((timed, ttft), else_=0.0)),
            func.sum(case((timed, 1), else_=0)),
            func.sum(case((cached, 1), else_=0)),
        )
        .where(jobs.c.status == "completed", jobs.c.completed_at >= since)
        .group_by(bucket)
    )
    if node_id is not None:
        query = query.where(jobs.c.node_id == node_id)
    if routing_key is not None:
        query = query.where(jobs.c.routing_key == routing_key)
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {
        int(r[0]): JobBucket(
            int(r[1]),
            int(r[2] or 0),
            float(r[3] or 0),
            int(r[4] or 0),
            float(r[5] or 0),
            int(r[6] or 0),
            int(r[7] or 0),
        )
        for r in rows
    }


async def earning_buckets(
    db: AsyncEngine, node_id: str, account: str, *, since: datetime, step_s: float
) -> dict[int, int]:
    """Bucket -> micro-USDC posted to `account` (the node owner's earnings) for the jobs
    `node_id` finished, net of any withheld since."""
    t, p = ledger_transactions, ledger_postings
    bucket = bucket_of(t.c.created_at, since, step_s).label("bucket")
    query = (
        select(bucket, func.sum(p.c.micros))
        .select_from(p.join(t, p.c.transaction_id == t.c.id).join(jobs, jobs.c.id == t.c.job_id))
        .where(p.c.account == account, jobs.c.node_id == node_id, t.c.created_at >= since)
        .group_by(bucket)
    )
    async with db.connect() as conn:
        return {int(r[0]): int(r[1] or 0) for r in (await conn.execute(query)).all()}


async def gpu_buckets(
    db: AsyncEngine, node_id: str, *, since: datetime, step_s: float
) -> dict[int, float]:
    """Bucket -> the node's mean GPU utilization (%) over the minutes it reported one."""
    s = node_samples
    bucket = bucket_of(s.c.at, since, step_s).label("bucket")
    query = (
        select(bucket, func.sum(s.c.gpu_util * s.c.samples), func.sum(s.c.samples))
        .where(s.c.node_id == node_id, s.c.at >= since)
        .group_by(bucket)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {int(r[0]): float(r[1]) / int(r[2]) for r in rows if r[2]}
