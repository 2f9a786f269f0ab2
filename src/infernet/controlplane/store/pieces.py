"""Stored pieces of job token streams (jobs/journal.py writes them), numbered as
streamed, in runs (tables.py `job_piece_runs`): a restart resumes streams and continues
answers from them. A run is a row: a row per piece cost a busy control plane ~10 % of its
CPU per relayed job (0.93-0.95 against 1.02-1.05 ms, docs/benchmarks.md run 11)."""

from __future__ import annotations

import json
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
from infernet.controlplane.store.tables import job_piece_runs, jobs

Run = tuple[str, int, list[str]]  # job id, the first piece's number, the pieces' texts


def _insert(dialect: Any) -> Any:
    insert = dialect.insert(job_piece_runs)
    return insert.on_conflict_do_update(
        index_elements=["job_id", "seq"], set_={"texts": insert.excluded.texts}
    )


# Compiled once and run over many rows (executemany): a batch of any size costs no new
# compilation. A run stored already from the same piece (a write retried after its commit
# was not confirmed, with the pieces that came since) is replaced by the longer one.
_INSERT = {"postgresql": _insert(postgresql), "sqlite": _insert(sqlite)}
# The same statement as the driver takes it, for the plain `sqlite3` connections of
# one_trip.py: no parameter processing per row (two thirds of the CPU of a small batch;
# the columns are plain text and integers, so no conversion is skipped), on the driver's
# connection (driver_sql.py). Errors still come as SQLAlchemy's, which one_trip.py reads
# to find a held lock.
_SQLITE_SQL = str(_INSERT["sqlite"].compile(dialect=sqlite.dialect()))


async def append(db: AsyncEngine, runs: Sequence[Run]) -> None:
    """Store runs of pieces in one transaction whose commit a crash of this process cannot
    undo and a power loss may (one_trip.py, `relaxed`)."""
    if runs:
        rows = [(job_id, seq, json.dumps(texts)) for job_id, seq, texts in runs]
        await one_trip(db, relaxed=True).run(partial(_insert_all, rows))


def _insert_all(rows: Sequence[tuple[str, int, str]], conn: Connection) -> None:
    if conn.dialect.driver == "pysqlite":
        driver_sql.run(conn, _SQLITE_SQL, rows, many=True)
        return
    values = [{"job_id": job_id, "seq": seq, "texts": texts} for job_id, seq, texts in rows]
    conn.execute(_INSERT[conn.dialect.name], values)


async def load(db: AsyncEngine, job_id: str) -> list[str]:
    """The job's stored pieces in order (1, 2, ... up to the first gap)."""
    query = (
        select(job_piece_runs.c.seq, job_piece_runs.c.texts)
        .where(job_piece_runs.c.job_id == job_id)
        .order_by(job_piece_runs.c.seq)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    pieces: list[str] = []
    for seq, texts in rows:
        if seq > len(pieces) + 1:
            break
        new = json.loads(texts)[len(pieces) + 1 - seq :]  # of a run that overlaps: the rest
        pieces.extend(new)
    return pieces


async def forget_ended_before(db: AsyncEngine, cutoff: datetime) -> int:
    """Delete the pieces of jobs that ended before `cutoff`; returns how many runs."""
    ended = select(jobs.c.id).where(jobs.c.completed_at < cutoff, jobs.c.status.not_in(UNFINISHED))
    async with db.begin() as conn:
        runs = delete(job_piece_runs).where(job_piece_runs.c.job_id.in_(ended))
        result = await conn.execute(runs)
    return int(result.rowcount or 0)
