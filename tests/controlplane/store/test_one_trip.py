"""`OneTrip`: a write transaction as one function, committed whole or not at all; on a
SQLite file it runs on a writer thread of its own (one trip from the event loop), with
the pragmas of every other connection; elsewhere inside the async engine. A relaxed one
(no wait for the disk) on a SQLite file runs right where it is called while no other
write holds the lock, and never waits for the lock there: then it takes the trip."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
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
    on_file = db.dialect.name == "sqlite"
    here = threading.current_thread().name
    assert thread == (here if relaxed or not on_file else "sqlite-writer_0"), thread


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


async def test_the_writer_thread_has_the_crash_safe_pragmas(db: AsyncEngine) -> None:
    if db.dialect.name != "sqlite":
        pytest.skip("SQLite's pragmas")

    def pragmas(conn: Connection) -> dict[str, Any]:
        return {
            name: conn.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }

    full, relaxed = await one_trip(db).run(pragmas), await one_trip(db, relaxed=True).run(pragmas)
    assert full == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 30000,
    }
    assert relaxed["synchronous"] == 1, "NORMAL: survives a crash, not a power loss"
    here = await one_trip(db, relaxed=True).run(
        lambda conn: (pragmas(conn), conn.execute(text("PRAGMA wal_autocheckpoint")).scalar())
    )
    assert here[0] == {**full, "synchronous": 1, "busy_timeout": 0}, "never waits here"
    assert here[1] == 0, "never checkpoints here (a checkpoint waits for the disk)"


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
