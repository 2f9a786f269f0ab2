"""`OneTrip`: a write transaction as one function, committed whole or not at all. A
relaxed one (no wait for the disk) on a SQLite file runs right where it is called while no
other write holds the lock, and never waits for the lock there: then it takes a trip to
a writer thread of its own, whose connection has the pragmas of every other and waits.
Elsewhere it runs inside the async engine."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store import pieces
from infernet.controlplane.store.accounts import create_account
from infernet.controlplane.store.db import open_database
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.one_trip import close_trips, one_trip
from infernet.controlplane.store.tables import accounts


async def names(db: AsyncEngine) -> set[str]:
    async with db.connect() as conn:
        return {str(n) for n in (await conn.execute(select(accounts.c.name))).scalars()}


def add(name: str, conn: Connection) -> str:
    conn.execute(insert(accounts).values(id=f"acct_{name}", name=name, created_at=utcnow()))
    return threading.current_thread().name


@pytest.mark.parametrize("relaxed", [False, True])
async def test_the_work_commits_and_is_seen_by_the_rest_of_the_control_plane(
    db: AsyncEngine, relaxed: bool
) -> None:
    thread = await one_trip(db, relaxed=relaxed).run(lambda conn: add("alice", conn))
    assert "alice" in await names(db)
    assert thread == threading.current_thread().name, "no trip while the lock is free"


async def test_a_relaxed_write_waits_for_the_lock_on_the_writer_thread_not_here(
    db: AsyncEngine,
) -> None:
    if db.dialect.name != "sqlite":
        pytest.skip("SQLite's file lock")
    holder = sqlite3.connect(str(db.url.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another write is committing (a full commit's fsync)
    write = asyncio.create_task(one_trip(db, relaxed=True).run(lambda conn: add("frank", conn)))
    await asyncio.sleep(0.2)
    assert not write.done(), "it waits for the lock..."
    holder.execute("COMMIT")
    holder.close()
    assert (await asyncio.wait_for(write, 10)).startswith("sqlite-writer"), "...off the loop"
    assert "frank" in await names(db)


async def test_stream_pieces_wait_for_the_lock_the_same_way(db: AsyncEngine) -> None:
    if db.dialect.name != "sqlite":
        pytest.skip("SQLite's file lock")
    holder = sqlite3.connect(str(db.url.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    write = asyncio.create_task(pieces.append(db, [("job_1", 1, ["Hel", "lo"])]))
    await asyncio.sleep(0.2)
    assert not write.done()
    holder.execute("COMMIT")
    holder.close()
    await asyncio.wait_for(write, 10)  # stored, not failed: the held lock was seen as such
    assert await pieces.load(db, "job_1") == ["Hel", "lo"]


async def test_work_that_fails_leaves_nothing_behind(db: AsyncEngine) -> None:
    def half(conn: Connection) -> None:
        add("bob", conn)
        raise RuntimeError("the second statement failed")

    with pytest.raises(RuntimeError):
        await one_trip(db).run(half)
    assert "bob" not in await names(db)
    await one_trip(db).run(lambda conn: add("carol", conn))  # the trip still works
    assert "carol" in await names(db)


async def test_every_connection_has_the_crash_safe_pragmas(db: AsyncEngine) -> None:
    if db.dialect.name != "sqlite":
        pytest.skip("SQLite's pragmas")

    def pragmas(conn: Connection) -> dict[str, Any]:
        return {
            name: conn.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }

    full = await one_trip(db).run(pragmas)
    assert full == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 30000,
    }
    relaxed = one_trip(db, relaxed=True)
    here = await relaxed.run(
        lambda conn: (pragmas(conn), conn.execute(text("PRAGMA wal_autocheckpoint")).scalar())
    )
    assert here[0] == {**full, "synchronous": 1, "busy_timeout": 0}, "NORMAL, never waits"
    assert here[1] == 0, "never checkpoints here (a checkpoint waits for the disk)"
    holder = sqlite3.connect(str(db.url.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # so the next write takes the trip
    there = asyncio.create_task(relaxed.run(lambda conn: (add("kim", conn), pragmas(conn))))
    await asyncio.sleep(0.2)
    holder.execute("COMMIT")
    holder.close()
    thread, on_thread = await asyncio.wait_for(there, 10)
    assert thread.startswith("sqlite-writer")
    assert on_thread == {**full, "synchronous": 1}, "NORMAL, and waits for the lock there"


def in_database_file(db: AsyncEngine) -> set[str]:
    """The account names the database file itself holds, not counting the log's pages."""
    path = Path(str(db.url.database)).resolve()
    reader = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return {str(n) for (n,) in reader.execute("SELECT name FROM accounts")}
    finally:
        reader.close()


async def test_commits_made_here_are_checkpointed_off_the_loop(
    db: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's connection never checkpoints (it would wait for the disk there); every
    `CHECKPOINT_EVERY` of its commits the trip's thread does, so the log stays short."""
    if not one_trip(db, relaxed=True).here:
        pytest.skip("a SQLite file")
    monkeypatch.setattr("infernet.controlplane.store.one_trip.CHECKPOINT_EVERY", 3)
    trip = one_trip(db, relaxed=True)
    with closing(sqlite3.connect(str(db.url.database))) as other:
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the schema into the file first
    for name in ("gina", "hal"):
        await trip.run(lambda conn, name=name: add(name, conn))
    assert not {"gina", "hal"} & in_database_file(db), "only in the log so far"
    await trip.run(lambda conn: add("ivy", conn))
    async with asyncio.timeout(10):
        while not {"gina", "hal", "ivy"} <= in_database_file(db):
            await asyncio.sleep(0.02)


async def test_an_in_memory_database_is_written_through_its_own_connection(tmp_path: Path) -> None:
    db = await open_database("sqlite+aiosqlite:///:memory:")
    try:
        await create_account(db, "dave")  # the same (only) connection sees both
        thread = await one_trip(db).run(lambda conn: add("erin", conn))
        assert not thread.startswith("sqlite-writer")
        assert {"dave", "erin"} <= await names(db)
    finally:
        await close_trips(db)
        await db.dispose()
