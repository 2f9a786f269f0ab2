"""Database engine lifecycle: connect, tune SQLite, bring the schema to the newest
revision."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from infernet.controlplane.store.migrate import upgrade_to_head


def sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    """Set up every SQLite connection for a crash (docs/operations.md, "Crashes"): the
    write-ahead log (readers never block the writer; a killed process loses nothing it
    committed), `synchronous=FULL` (each commit is on disk before it returns, so a power
    loss cannot undo a committed money movement either; `RELAX` names
    the writes that may skip that wait) and a busy timeout (a writer waits for the file
    lock instead of failing with "database is locked")."""
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_S * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# SQLite (the embedded single process): a bigger pool than SQLAlchemy's 5 + 10, so a burst
# of node joins (each a few short statements) waits for a connection instead of failing
# with a pool timeout. Readers run in parallel under WAL; writers queue on the file lock,
# waiting up to `SQLITE_BUSY_S` for it instead of failing with "database is locked".
SQLITE_POOL = {"pool_size": 16, "max_overflow": 48, "pool_timeout": 120}
SQLITE_BUSY_S = 30


# Commits that a crash of this process cannot undo, without waiting for the disk.
RELAX = {"postgresql": "SET synchronous_commit = off", "sqlite": "PRAGMA synchronous=NORMAL"}
# The job rows' shared transactions (store/group_commit.py), before their first write, on
# PostgreSQL: wait for the server's own disk, not a synchronous standby's (`SET LOCAL` ends
# with the transaction). With `off`, a crash of the server, far likelier than a power
# loss, lost jobs already answered 202 (tests/chaos/test_engine_restarts.py, an immediate
# restart). On a SQLite file they commit through a relaxed connection (`RELAX`), set up
# once (one_trip.py).
ROW_COMMIT = {"postgresql": "SET LOCAL synchronous_commit = local"}


async def relaxed_connection(db: AsyncEngine) -> AsyncConnection:
    """A connection of its own for frequent small writes that need to survive a crash of
    this process but not a power loss (stream pieces, nonces): its commits do not wait
    for the disk; every other connection's still do (and a later one of those takes
    these along, in SQLite's write-ahead log). Commit with `conn.commit()`."""
    conn = await db.connect()
    await conn.exec_driver_sql(RELAX[conn.dialect.name])
    await conn.commit()
    return conn


async def close_quietly(conn: AsyncConnection | None) -> None:
    """Close a connection kept open (one_trip.py, driver_pg.py) back into the pool."""
    if conn is None:
        return
    try:
        await conn.close()
    except Exception:  # already broken: nothing to keep
        return


async def open_database(url: str) -> AsyncEngine:
    options: dict[str, object] = {}
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": SQLITE_BUSY_S}
        if ":memory:" not in url:  # an in-memory database keeps SQLAlchemy's static pool
            options.update(SQLITE_POOL)
    engine = create_async_engine(url, **options)
    if engine.dialect.name == "sqlite":
        sync_engine: Engine = engine.sync_engine
        event.listen(sync_engine, "connect", sqlite_pragmas)
    await upgrade_to_head(engine)
    return engine
