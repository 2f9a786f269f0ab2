"""Stored pieces of job token streams (jobs/journal.py writes them), numbered as
streamed: a restart resumes streams and continues answers from them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store import driver_sql
from infernet.controlplane.store.jobs import UNFINISHED
from infernet.controlplane.store.one_trip import one_trip
from infernet.controlplane.store.tables import job_pieces, jobs


def _insert(dialect: Any) -> Any:
    return dialect.insert(job_pieces).on_conflict_do_nothing()


# Compiled once and run over many rows (executemany): a batch of any size costs no new
# compilation. A row stored already (a write retried after its commit was not
# confirmed) is left as it is.
_INSERT = {"postgresql": _insert(postgresql), "sqlite": _insert(sqlite)}
# The same statement as the driver takes it, for the plain `sqlite3` connections of
# one_trip.py: no parameter processing per row (two thirds of the CPU of a small batch;
# the columns are plain text and integers, so no conversion is skipped), on the driver's
# connection (driver_sql.py). Errors still come as SQLAlchemy's, which one_trip.py reads
# to find a held lock.
_SQLITE_SQL = str(_INSERT["sqlite"].compile(dialect=sqlite.dialect()))


async def append(db: AsyncEngine, rows: Sequence[tuple[str, int, str]]) -> None:
    """Store (job id, seq, text) rows in one transaction whose commit a crash of this
    process cannot undo and a power loss may (one_trip.py, `relaxed`)."""
    if rows:
        await one_trip(db, relaxed=True).run(partial(_insert_all, rows))


def _insert_all(rows: Sequence[tuple[str, int, str]], conn: Connection) -> None:
    if conn.dialect.driver == "pysqlite":
        driver_sql.run(conn, _SQLITE_SQL, rows, many=True)
        return
    values = [{"job_id": job_id, "seq": seq, "text": text} for job_id, seq, text in rows]
    conn.execute(_INSERT[conn.dialect.name], values)


async def load(db: AsyncEngine, job_id: str) -> list[str]:
    """The job's stored pieces in order (1, 2, ... without a gap)."""
    query = (
        select(job_pieces.c.seq, job_pieces.c.text)
        .where(job_pieces.c.job_id == job_id)
        .order_by(job_pieces.c.seq)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    pieces: list[str] = []
    for seq, text in rows:
        if seq != len(pieces) + 1:
            break
        pieces.append(text)
    return pieces


async def forget_ended_before(db: AsyncEngine, cutoff: datetime) -> int:
    """Delete the pieces of jobs that ended before `cutoff`; returns how many."""
    ended = select(jobs.c.id).where(jobs.c.completed_at < cutoff, jobs.c.status.not_in(UNFINISHED))
    async with db.begin() as conn:
        result = await conn.execute(delete(job_pieces).where(job_pieces.c.job_id.in_(ended)))
    return int(result.rowcount or 0)
