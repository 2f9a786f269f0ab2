"""`GroupCommit`: the job rows' writes of concurrent jobs share commits, each writer still
told its own outcome once committed, in the order the writes came; one bad write fails
only its own caller."""

from __future__ import annotations

import asyncio
from threading import current_thread

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.store.accounts import create_account
from infernet.controlplane.store.group_commit import GroupCommit
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.jobs import JobRecord
from infernet.controlplane.store.one_trip import one_trip
from infernet.controlplane.store.tables import jobs


def record(job_id: str, account: str) -> JobRecord:
    return JobRecord(job_id, account, "m:1b", "m:1b", "pending", {}, utcnow())


def writer_engines(db: AsyncEngine) -> list[Engine]:
    """Every engine a shared transaction may run on: the durable writer's and, for
    relaxed writes only, the stream journal's (one_trip.py)."""
    engines = (e for relaxed in (False, True) for e in one_trip(db, relaxed=relaxed).engines)
    return list(dict.fromkeys(engines))  # on PostgreSQL both are the database's own


def count_commits(db: AsyncEngine) -> list[int]:
    commits: list[int] = []
    for engine in writer_engines(db):
        event.listen(engine, "commit", lambda _conn: commits.append(1))
    return commits


async def statuses(db: AsyncEngine) -> dict[str, str]:
    async with db.connect() as conn:
        rows = (await conn.execute(select(jobs.c.id, jobs.c.status))).all()
    return {str(r.id): str(r.status) for r in rows}


async def test_writes_that_come_together_share_a_commit_and_keep_their_order(
    db: AsyncEngine,
) -> None:
    writes, account = GroupCommit(db), await create_account(db, "alice")
    commits = count_commits(db)
    ids = [f"job_{i}" for i in range(20)]
    created = [asyncio.ensure_future(job_store.create(writes, record(i, account))) for i in ids]
    await asyncio.sleep(0)  # the inserts are queued
    moved = [job_store.mark_processing(writes, i, "node_a", 1) for i in ids]
    await asyncio.gather(*created, *moved)
    assert await statuses(db) == dict.fromkeys(ids, "processing"), "each insert before its move"
    assert len(commits) <= 2, "forty writes, not forty commits"
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


def durability_of_commits(db: AsyncEngine) -> list[str]:
    """Whether each shared transaction waits for the disk: SQLite's `synchronous` level,
    PostgreSQL's `synchronous_commit` (FULL for on, LOCAL for its own disk only)."""
    levels: list[str] = []
    said = {
        "PRAGMA synchronous=FULL": "FULL",
        "PRAGMA synchronous=NORMAL": "NORMAL",
        "SET LOCAL synchronous_commit = on": "FULL",
        "SET LOCAL synchronous_commit = local": "LOCAL",
    }

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement in said:
            levels.append(said[statement])

    for engine in writer_engines(db):
        event.listen(engine, "before_cursor_execute", seen)
    return levels


async def test_a_new_jobs_row_commits_without_waiting_for_the_disk_unless_beside_a_durable_write(
    db: AsyncEngine,
) -> None:
    writes, account = GroupCommit(db), await create_account(db, "alice")
    levels = durability_of_commits(db)
    await job_store.create(writes, record("job_a", account))
    await job_store.mark_processing(writes, "job_a", "node_a", 1)
    # SQLite: a crash of the process keeps them, a power loss may not. PostgreSQL: they
    # wait for the server's disk, not a standby's (a server crash must keep them).
    relaxed = "NORMAL" if db.dialect.name == "sqlite" else "LOCAL"
    assert levels == [relaxed, relaxed]
    levels.clear()
    failed = asyncio.ensure_future(job_store.fail(writes, "job_a", "timeout", "too slow"))
    await asyncio.sleep(0)  # the failure is queued, its commit not begun
    await asyncio.gather(failed, job_store.create(writes, record("job_b", account)))
    assert levels == ["FULL"], "a failure is durable, and so is what shares its commit"
    assert await statuses(db) == {"job_a": "failed", "job_b": "pending"}


async def test_relaxed_writes_commit_on_the_loops_thread_and_durable_ones_off_it(
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
    assert committed_on[0] == current_thread().name, "no trip to a thread for a relaxed write"
    assert committed_on[1].startswith("sqlite-writer"), "a durable one waits for the disk there"
    assert len(committed_on) == 2
