"""SQLite is set up for a crash (store/db.py, docs/operations.md "Crashes"): the write-ahead
log, `synchronous=FULL` (a commit is on disk when it returns, so a power loss cannot undo
a committed money movement) and a busy timeout, on every connection of the pool."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from infernet.controlplane.store.db import SQLITE_BUSY_S, open_database


async def test_every_sqlite_connection_is_set_up_for_a_crash(tmp_path: Path) -> None:
    db = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'cp.db'}")
    try:
        for _ in range(2):  # two connections at once: each is set up
            async with db.connect() as first, db.connect() as second:
                for conn in (first, second):
                    mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
                    sync = (await conn.execute(text("PRAGMA synchronous"))).scalar()
                    busy = (await conn.execute(text("PRAGMA busy_timeout"))).scalar()
                    assert (mode, sync, busy) == ("wal", 2, SQLITE_BUSY_S * 1000)  # 2: FULL
    finally:
        await db.dispose()
