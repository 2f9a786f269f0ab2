"""The job rows' shared transactions (group_commit.py) on PostgreSQL, sent to asyncpg
directly.

Through SQLAlchemy each of these transactions took a connection from the pool, and each
statement went through `Connection.execute` and the greenlet that carries it to asyncpg:
~470 µs of the replica's CPU for a job's three row writes at 32 jobs in flight, ~325 µs
here (docs/benchmarks.md, run 18). Here one connection is kept, opened by SQLAlchemy's
pool (so asyncpg encodes JSON as SQLAlchemy set it up to), each statement is sent as
SQLAlchemy sends it (driver_sql.bound: the same SQL, casts and converted values), and the
transaction begins in the same trip as its commit setting. What is written is what
`Connection.execute` writes (tests/controlplane/store/test_driver_pg.py compares the rows).
A failure comes as SQLAlchemy's `DBAPIError` holding asyncpg's, after which the
transaction is rolled back; a connection that cannot be rolled back, or was interrupted,
is thrown away (never handed back to the pool inside a transaction) and another opened
for the next transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import Executable
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store import driver_sql
from infernet.controlplane.store.db import ROW_COMMIT, close_quietly
from infernet.controlplane.store.driver_sql import Params

BEGIN = f"BEGIN; {ROW_COMMIT['postgresql']}"


class PgRows:
    """Runs statements as one transaction on a connection of its own; one per database
    (`pg_rows`), closed with it (`close_pg_rows`)."""

    def __init__(self, db: AsyncEngine) -> None:
        self._db = weakref.ref(db)  # not held: the registry must not keep `db` alive
        self._conn: AsyncConnection | None = None
        self._raw: asyncpg.Connection | None = None  # the driver's, under `_conn`
        self._lock = asyncio.Lock()  # one transaction at a time on the connection

    async def run(self, statements: Sequence[tuple[Executable, Params]]) -> list[int]:
        """Run `statements` in order in one transaction; their row counts, once committed."""
        async with self._lock:
            db = self._db()
            assert db is not None, "the database was closed"
            raw = await self._connection(db)
            sql, args = BEGIN, ()
            try:
                await raw.execute(BEGIN)
                counts = []
                for statement, params in statements:
                    sql, args = _bound(db, statement, params)
                    counts.append(_rows(await raw.execute(sql, *args)))
                await raw.execute("COMMIT")
            except BaseException as exc:
                await self._undo(raw, exc)
                if not isinstance(exc, Exception):
                    raise
                raise _as_sqlalchemy_raises(sql, args, exc) from exc
            return counts

    async def _connection(self, db: AsyncEngine) -> asyncpg.Connection:
        """The kept connection; a new one if the server closed it (a restart) since."""
        if self._raw is not None and self._raw.is_closed():
            await self._discard()
        if self._raw is None:
            conn = await db.connect()
            self._conn, self._raw = conn, (await conn.get_raw_connection()).driver_connection
        return self._raw

    async def _undo(self, raw: asyncpg.Connection, exc: BaseException) -> None:
        """Roll back what `exc` interrupted, or throw the connection away."""
        if isinstance(exc, asyncpg.PostgresError) and not raw.is_closed():
            with contextlib.suppress(Exception):
                await raw.execute("ROLLBACK")
                return
        await self._discard()

    async def _discard(self) -> None:
        (conn, raw), self._conn, self._raw = (self._conn, self._raw), None, None
        if raw is not None:
            raw.terminate()
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()  # out of the pool: it may still be in a transaction

    async def close(self) -> None:
        if self._lock.locked():  # a transaction on its way: it fails, as on a crash
            await self._discard()
        else:
            conn, self._conn, self._raw = self._conn, None, None
            await close_quietly(conn)


def _bound(db: AsyncEngine, statement: Executable, params: Params) -> tuple[str, tuple[Any, ...]]:
    found = driver_sql.bound(db.dialect, statement, params)
    if found is None:  # the job rows' statements are built to avoid this (store/jobs.py)
        raise ValueError(f"its SQL is made per execution, not for driver_pg: {statement}")
    return found


def _as_sqlalchemy_raises(sql: str, args: tuple[Any, ...], exc: Exception) -> StatementError:
    """`exc` as SQLAlchemy's asyncpg dialect raises it: a taken key or a missing row it
    refers to as an `IntegrityError` (the one kind callers tell apart), anything else as
    the `DBAPIError` of its name."""
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return IntegrityError(sql, args, exc)
    return DBAPIError.instance(sql, args, exc, Exception)


def _rows(status: str) -> int:
    """The row count in a command's status: `INSERT 0 1`, `UPDATE 3`."""
    return int(status.rsplit(" ", 1)[1])


_HELD: weakref.WeakKeyDictionary[AsyncEngine, PgRows] = weakref.WeakKeyDictionary()


def pg_rows(db: AsyncEngine) -> PgRows | None:
    """The database's `PgRows` (made on first use); None unless it is PostgreSQL through
    asyncpg."""
    if db.dialect.driver != "asyncpg":
        return None
    if db not in _HELD:
        _HELD[db] = PgRows(db)
    return _HELD[db]


async def close_pg_rows(db: AsyncEngine) -> None:
    if (held := _HELD.pop(db, None)) is not None:
        await held.close()
