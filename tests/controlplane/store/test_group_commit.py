"""`GroupCommit`: the job rows' writes of concurrent jobs share commits, each writer still
told its own outcome once committed, in the order the writes came; one bad write fails
only its own caller."""

from __future__ import annotations

import asyncio
from threading import current_thread
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Connection, Engine, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.store.accounts import create_account
from infernet.controlplane.store.driver_pg import pg_rows
from infernet.controlplane.store.group_commit import GroupCommit
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.jobs import JobRecord
from infernet.controlplane.store.one_trip import one_trip
from infernet.controlplane.store.tables import jobs


def record(job_id: str, account: str) -> JobRecord:
    return JobRecord(job_id, account, "m:1b", "m:1b", "pending", {}, utcnow())


def writer_engines(db: AsyncEngine) -> list[Engine]:
    """Every engine a shared transaction may run on: the stream journal's on a SQLite
    file, else the database's own (one_trip.py)."""
    engines = (e for relaxed in (False, True) for e in one_trip(db, relaxed=relaxed).engines)
    return list(dict.fromkeys(engines))  # on PostgreSQL both are the database's own


def at_each_commit(db: AsyncEngine, monkeypatch: pytest.MonkeyPatch, ask: str) -> list[str]:
    """What `ask` answers on each shared transaction's connection right before it
    commits: seen through SQLAlchemy's commit event, or on PostgreSQL, whose job rows
    driver_pg.py sends to asyncpg itself, by watching for its `COMMIT`."""
    answers: list[str] = []
    if pg_rows(db) is not None:
        execute = asyncpg.Connection.execute

        async def watched(conn: asyncpg.Connection, query: str, *args: Any, **kw: Any) -> Any:
            if query == "COMMIT":
                answers.append(str(await conn.fetchval(ask)))
            return await execute(conn, query, *args, **kw)

        monkeypatch.setattr(asyncpg.Connection, "execute", watched)
        return answers

    def seen(conn: Connection) -> None:
        answers.append(str(conn.exec_driver_sql(ask).scalar()))

    for engine in writer_engines(db):
        event.listen(engine, "commit", seen)
    return answers


async def statuses(db: AsyncEngine) -> dict[str, str]:
    async with db.connect() as conn:
        rows = (await conn.execute(select(jobs.c.id, jobs.c.status))).all()
    return {str(r.id): str(r.status) for r in rows}


async def test_writes_that_come_together_share_a_commit_and_keep_their_order(
    db: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes, account = GroupCommit(db), await create_account(db, "alice")
    commits = at_each_commit(db, monkeypatch, "SELECT 1")
    ids = [f"job_{i}" for i in range(20)]
    created = [asyncio.ensure_future(job_store.create(writes, record(i, account))) for i in ids]
    await asyncio.sleep(0)  # the inserts are queued
    moved = [job_store.mark_processing(writes, i, "node_a", 1) for i in ids]
    await asyncio.gather(*created, *moved)
    assert await statuses(db) == dict.fromkeys(ids, "processing"), "each insert before its move"
    assert 1 <= len(commits) <= 2, "forty writes, not forty commits"
    assert all(f.result() == 1 for f in moved)


async def test_a_bad_write_fails_its_own_caller_only(db: AsyncEngine) -> None:
    writes, account = GroupCommit(db), await create_account(db, "alice")
    await job_store.create(writes, record("job_dup", account))
    results = await asyncio.gather(
        job_store.create(writes, record("job_a", account)),
        job_store.create(writes, record("job_dup", account)),  # its id is taken
        job_store.create(writes, record("job_b", account)),
        return_exceptions=True,
    )
    assert results[0] == results[2] == 1, "each of the others stored its row"
    assert isinstance(results[1], IntegrityError)
    assert set(await statuses(db)) == {"job_dup", "job_a", "job_b"}


async def test_a_move_of_a_finished_job_is_refused_through_the_batch(db: AsyncEngine) -> None:
    writes, account = GroupCommit(db), await create_account(db, "alice")
    await job_store.create(writes, record("job_x", account))
    assert await job_store.fail(writes, "job_x", "timeout", "too slow")
    assert not await job_store.fail(writes, "job_x", "timeout", "again")
    assert await job_store.mark_processing(writes, "job_x", "node_a", 2) == 0


async def test_job_rows_survive_a_crash_without_waiting_for_the_disk(
    db: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash of the process (or of the database server) keeps every committed move; a
    power loss may lose the last ones. Money does not depend on them: the ledger's own
    writes wait for the disk and take the job's earlier commits with them. Seen as
    SQLite's `synchronous` level (1: NORMAL, no wait for the disk) or PostgreSQL's
    `synchronous_commit` (`local`: its own disk only) at each commit."""
    writes, account = GroupCommit(db), await create_account(db, "alice")
    ask = "PRAGMA synchronous" if db.dialect.name == "sqlite" else "SHOW synchronous_commit"
    levels = at_each_commit(db, monkeypatch, ask)
    await job_store.create(writes, record("job_a", account))
    await job_store.mark_processing(writes, "job_a", "node_a", 1)
    await job_store.fail(writes, "job_a", "timeout", "too slow")
    assert levels == ["1" if db.dialect.name == "sqlite" else "local"] * 3
    assert await statuses(db) == {"job_a": "failed"}


async def test_job_rows_commit_on_the_loops_thread_while_the_lock_is_free(
    db: AsyncEngine,
) -> None:
    if not one_trip(db, relaxed=True).here:
        pytest.skip("a SQLite file: elsewhere every transaction runs in the async engine")
    writes, account = GroupCommit(db), await create_account(db, "alice")
    committed_on: list[str] = []  # the thread of each shared transaction's commit
    for engine in writer_engines(db):
        event.listen(engine, "commit", lambda _c: committed_on.append(current_thread().name))
    await job_store.create(writes, record("job_a", account))
    await job_store.fail(writes, "job_a", "timeout", "too slow")
    assert committed_on == [current_thread().name] * 2, "no trip to a thread"
