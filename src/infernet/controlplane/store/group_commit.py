"""Many small writes, one commit: the job rows' writes (store/jobs.py) of all the jobs in
flight share each transaction.

Each job writes its row a few times (submitted, processing, completed). One transaction
per write queued the jobs of a burst behind each other's commits: at 32 concurrent
requests a job waited ~60 ms (p99 over a second) to store its submission. Here the
statements that arrive while a commit is on its way wait for the next one and then go
together, in the order they came (a job's writes stay in its own order), each caller
still told its own outcome only once its statement is committed. A transaction that fails
is run again one statement at a time, so one caller's error is never another's.

A job row needs to survive a crash of this process or of the database server, not a
power loss: what money depends on is the ledger, whose writes wait for the disk and take
every earlier commit there with them (the write-ahead log keeps a prefix of the commits;
a job's settlement comes after its `completed` move, its release after its failure).
So these commits do not wait for the disk. On SQLite they go through the stream
journal's connection, on the loop's thread while no other write holds the lock
(one_trip.py, `relaxed`); on PostgreSQL, through asyncpg directly (driver_pg.py), they
wait for the server's own disk, not a standby's (`ROW_COMMIT`). What a power loss can cost
is in docs/operations.md, "Crashes".
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from sqlalchemy import Connection, Executable
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store import driver_sql
from infernet.controlplane.store.db import ROW_COMMIT
from infernet.controlplane.store.driver_pg import pg_rows
from infernet.controlplane.store.driver_sql import Params
from infernet.controlplane.store.one_trip import one_trip

log = logging.getLogger("infernet.store")
Pending = tuple[Executable, Params, asyncio.Future[int]]


class GroupCommit:
    def __init__(self, db: AsyncEngine) -> None:
        self.db = db
        # Each transaction one trip. On PostgreSQL, to asyncpg on a connection of its own
        # (driver_pg.py). On a SQLite file, where the journal's go (one_trip.py: no trip
        # to a thread while the lock is free; one connection's page cache for both);
        # elsewhere (in memory) the async engine's connection.
        self._pg = pg_rows(db)
        relaxed = one_trip(db, relaxed=True)
        self._trip = relaxed if relaxed.here else one_trip(db)
        self._pending: list[Pending] = []
        self._writer: asyncio.Task[None] | None = None

    async def execute(self, statement: Executable, params: Params = None) -> int:
        """Run `statement` (with `params`: a statement built once, compiled once) in the
        next shared transaction; its row count once committed."""
        return await self.queue(statement, params)

    def queue(self, statement: Executable, params: Params = None) -> asyncio.Future[int]:
        """Queue `statement` for the next shared transaction, behind every statement
        queued before it; the future is its row count once committed."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((statement, params, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="group-commit")
        return done

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                counts = await self._together(batch)
            except Exception:  # one statement spoiled the transaction: each on its own
                log.debug("group commit failed; running its statements one by one")
                for pending in batch:
                    await self._alone(*pending)
                continue
            for (_, _, done), count in zip(batch, counts, strict=True):
                if not done.done():
                    done.set_result(count)

    async def _together(self, batch: list[Pending]) -> list[int]:
        return await self._run([(s, p) for s, p, _ in batch])

    async def _run(self, statements: list[tuple[Executable, Params]]) -> list[int]:
        if self._pg is not None:
            return await self._pg.run(statements)
        return await self._trip.run(partial(_run_all, statements))

    async def _alone(
        self, statement: Executable, params: Params, done: asyncio.Future[int]
    ) -> None:
        try:
            [count] = await self._run([(statement, params)])
        except Exception as exc:
            if not done.done():
                done.set_exception(exc)
            return
        if not done.done():
            done.set_result(count)


def _run_all(statements: list[tuple[Executable, Params]], conn: Connection) -> list[int]:
    if (setting := ROW_COMMIT.get(conn.dialect.name)) is not None:
        conn.exec_driver_sql(setting)  # for this commit
    return [driver_sql.execute(conn, s, p) for s, p in statements]
