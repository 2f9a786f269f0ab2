"""A write transaction in one trip to the database: the hot path's writes (job rows,
stream pieces), which survive a crash of this process without waiting for the disk
(`relaxed`, db.py `RELAX`).

Through aiosqlite each step of a transaction (begin, every execute and its cursor, the
commit) is a trip from the event loop to the connection's thread and back, and each trip
waits for a turn of the loop. Under load the turns are long: at 32 concurrent streams a
job row's one-statement commit took ~35 ms p50, mostly waiting for turns (docs/
benchmarks.md, run 7). On a SQLite file such a commit is an append to the write-ahead log
(tens of µs), less than even one trip to a thread and back on a busy loop (~1-2 ms: the
first token of a stream waited that long to be shown). So the whole transaction is one
function, run right here, on the loop's thread, with a plain `sqlite3` connection (the
same pragmas as every other: db.py) that never waits for the lock (busy timeout 0) and
never checkpoints (a checkpoint waits for the disk). Only when another write holds the
lock does it take a trip, to a writer thread of its own whose connection waits for the
lock. Every `CHECKPOINT_EVERY` commits made here that thread checkpoints, which keeps the
log short and takes the commits before it to the disk.

Anywhere else (PostgreSQL, whose driver is asyncio-native; an in-memory SQLite database,
which only the async engine's own connection can see; a write that waits for the disk)
the same function runs inside the async engine's transaction through
`AsyncConnection.run_sync`. Either way the statements are the same and commit together
or not at all.

Each connection of its own is kept open (`_Held`): taking one from a pool and giving it
back cost more than the ~25 µs a small transaction itself takes.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store.db import RELAX, close_quietly, relaxed_connection, sqlite_pragmas
from infernet.controlplane.store.driver_pg import close_pg_rows

log = logging.getLogger("infernet.store")
T = TypeVar("T")
Work = Callable[[Connection], T]
# About SQLite's own automatic checkpoint (1,000 pages): a few pages per small commit.
CHECKPOINT_EVERY = 200


def _file(db: AsyncEngine) -> str | None:
    """The SQLite file behind `db`; None for another database or an in-memory one."""
    name = db.url.database
    if db.dialect.name != "sqlite" or not name or name == ":memory:" or "mode=memory" in name:
        return None
    return name


class OneTrip:
    """Runs `work(connection)` as one transaction; one per database and durability
    (`one_trip`), closed with the database (`close_trips`)."""

    def __init__(self, db: AsyncEngine, *, relaxed: bool = False) -> None:
        # Not held: the registry of trips (`one_trip`) must not keep `db` alive.
        self._db, self._relaxed = weakref.ref(db), relaxed
        self._conn: AsyncConnection | None = None  # the relaxed async connection
        self._here: Engine | None = None  # relaxed on a SQLite file: run on this thread,
        self._engine: Engine | None = None  # or, while the lock is held, on `_thread`
        self._thread: ThreadPoolExecutor | None = None
        self._held_here, self._held = _Held(), _Held()  # each used on its thread only
        self._commits_here = 0  # since the last checkpoint began
        self._checkpoint: asyncio.Future[None] | None = None
        if relaxed and _file(db) is not None:
            url = db.url.set(drivername="sqlite")
            self._here = create_engine(url, pool_size=1)
            event.listen(self._here, "connect", _never_wait)
            self._engine = create_engine(url, pool_size=1)
            event.listen(self._engine, "connect", _relaxed_pragmas)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    @property
    def engines(self) -> tuple[Engine, ...]:
        """The engines whose connections run the work (for their events)."""
        if self._here is not None and self._engine is not None:
            return (self._here, self._engine)
        db = self._db()
        assert db is not None, "the database was closed"
        return (db.sync_engine,)

    @property
    def here(self) -> bool:
        """Whether work runs on the event loop's thread (relaxed, SQLite file)."""
        return self._here is not None

    async def run(self, work: Work[T]) -> T:
        if self._here is not None:
            try:
                result = self._held_here.run(self._here, work)
            except OperationalError as exc:
                if not _busy(exc):
                    raise
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._thread, self._in_thread, work)
            self._committed_here()
            return result
        db = self._db()
        assert db is not None, "the database was closed"
        if not self._relaxed:
            async with db.begin() as conn:
                return await conn.run_sync(work)
        return await self._relaxed_run(db, work)

    def _committed_here(self) -> None:
        self._commits_here += 1
        running = self._checkpoint is not None and not self._checkpoint.done()
        if self._commits_here >= CHECKPOINT_EVERY and not running:
            self._commits_here = 0
            loop = asyncio.get_running_loop()
            self._checkpoint = loop.run_in_executor(self._thread, self._in_thread, _checkpoint)
            self._checkpoint.add_done_callback(_log_failure)

    def _in_thread(self, work: Work[T]) -> T:
        assert self._engine is not None
        return self._held.run(self._engine, work)

    async def _relaxed_run(self, db: AsyncEngine, work: Work[T]) -> T:
        self._conn = self._conn or await relaxed_connection(db)
        try:
            result = await self._conn.run_sync(work)
            await self._conn.commit()
        except BaseException:
            conn, self._conn = self._conn, None  # a new connection for the next try
            await close_quietly(conn)
            raise
        return result

    async def close(self) -> None:
        await close_quietly(self._conn)
        self._conn = None
        if self._thread is not None:
            await asyncio.to_thread(self._thread.shutdown)  # after the write in progress
        self._held.close()
        self._held_here.close()
        for engine in (self._engine, self._here):
            if engine is not None:
                engine.dispose()


class _Held:
    """One connection kept open between transactions, on the one thread that uses it."""

    def __init__(self) -> None:
        self._conn: Connection | None = None

    def run(self, engine: Engine, work: Work[T]) -> T:
        conn = self._conn = self._conn or engine.connect()
        try:
            with conn.begin():  # rolled back on an error, the connection kept for the next
                return work(conn)
        except BaseException:
            if conn.invalidated or conn.closed:
                self._conn = None
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _relaxed_pragmas(dbapi_connection: Any, record: object) -> None:
    sqlite_pragmas(dbapi_connection, record)
    dbapi_connection.execute(RELAX["sqlite"])


def _never_wait(dbapi_connection: Any, record: object) -> None:
    _relaxed_pragmas(dbapi_connection, record)
    for pragma in ("PRAGMA busy_timeout=0", "PRAGMA wal_autocheckpoint=0"):
        dbapi_connection.execute(pragma)


def _checkpoint(conn: Connection) -> None:
    """Copy the log's committed pages into the database file, as far as no reader still
    needs them (PASSIVE: never waits for a reader or a writer)."""
    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def _log_failure(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and (exc := done.exception()) is not None:
        log.warning("checkpoint failed; the next one tries again", exc_info=exc)


def _busy(exc: OperationalError) -> bool:
    """Another connection holds the write lock (SQLITE_BUSY or _LOCKED, any variant)."""
    return (getattr(exc.orig, "sqlite_errorcode", 0) & 0xFF) in (5, 6)


# One per database and durability: the registry does not keep a database alive.
_TRIPS: weakref.WeakKeyDictionary[AsyncEngine, dict[bool, OneTrip]] = weakref.WeakKeyDictionary()


def one_trip(db: AsyncEngine, *, relaxed: bool = False) -> OneTrip:
    """The database's `OneTrip` (made on first use)."""
    made = _TRIPS.setdefault(db, {})
    if relaxed not in made:
        made[relaxed] = OneTrip(db, relaxed=relaxed)
    return made[relaxed]


async def close_trips(db: AsyncEngine) -> None:
    """Close the database's trips, and its job rows' connection (driver_pg.py), before
    the database itself."""
    for trip in _TRIPS.pop(db, {}).values():
        await trip.close()
    await close_pg_rows(db)
