"""Many small writes, one commit: the job rows' writes (store/jobs.py) of all the jobs in
flight share each transaction.

Each job writes its row a few times (submitted, processing, completed), and every commit
waits for the disk (db.py: `synchronous=FULL` on SQLite; PostgreSQL's default). One
transaction per write queues the jobs of a burst behind each other's disk flushes: at 32
concurrent requests a job waited ~60 ms (p99 over a second) to store its submission. Here
the statements that arrive while a commit is on its way wait for the next one and then
go together, in the order they came (a job's writes stay in its own order), each caller
still told its own outcome only once its statement is committed. A transaction that fails
is run again one statement at a time, so one caller's error is never another's.

A write queued `durable=False` (a new job's row, its `processing` move: what a client's
first token waits for) needs to survive a crash of this process or of the database
server, not a power loss. On SQLite a transaction of such writes only is committed
without waiting for the disk (db.py `RELAX`), through the stream journal's connection on
the loop's thread (one_trip.py), and the next durable commit takes it to the disk with
its own (the write-ahead log keeps a prefix of the commits); on PostgreSQL it waits for
the server's own disk, not a standby's (db.py `DURABILITY`). Any durable write in a
transaction makes the whole of it wait for the disk.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from sqlalchemy import Connection, Executable
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store import driver_sql
from infernet.controlplane.store.db import DURABILITY
from infernet.controlplane.store.driver_sql import Params
from infernet.controlplane.store.one_trip import OneTrip, one_trip

log = logging.getLogger("infernet.store")
Pending = tuple[Executable, Params, asyncio.Future[int], bool]  # ..., durable


class GroupCommit:
    def __init__(self, db: AsyncEngine) -> None:
        self.db = db
        self._trip = one_trip(db)  # each transaction one trip (one_trip.py)
        # Relaxed writes only: where the journal's go (no trip to the writer thread, and
        # one connection's page cache for both).
        relaxed = one_trip(db, relaxed=True)
        self._relaxed_trip = relaxed if relaxed.here else self._trip
        self._pending: list[Pending] = []
        self._writer: asyncio.Task[None] | None = None

    async def execute(self, statement: Executable, params: Params = None) -> int:
        """Run `statement` (with `params`: a statement built once, compiled once) in the
        next shared transaction; its row count once committed."""
        return await self.queue(statement, params)

    def queue(
        self, statement: Executable, params: Params = None, *, durable: bool = True
    ) -> asyncio.Future[int]:
        """Queue `statement` for the next shared transaction, behind every statement
        queued before it; the future is its row count once committed (on disk, unless
        `durable` is False and no durable write shares the commit)."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((statement, params, done, durable))
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
            for (_, _, done, _), count in zip(batch, counts, strict=True):
                if not done.done():
                    done.set_result(count)

    async def _together(self, batch: list[Pending]) -> list[int]:
        statements = [(s, p) for s, p, _, _ in batch]
        durable = any(d for _, _, _, d in batch)
        return await self._trip_for(durable).run(partial(_run_all, statements, durable))

    def _trip_for(self, durable: bool) -> OneTrip:
        return self._trip if durable else self._relaxed_trip

    async def _alone(
        self, statement: Executable, params: Params, done: asyncio.Future[int], durable: bool
    ) -> None:
        try:
            [count] = await self._trip_for(durable).run(
                partial(_run_all, [(statement, params)], durable)
            )
        except Exception as exc:
            if not done.done():
                done.set_exception(exc)
            return
        if not done.done():
            done.set_result(count)


def _run_all(
    statements: list[tuple[Executable, Params]], durable: bool, conn: Connection
) -> list[int]:
    conn.exec_driver_sql(DURABILITY[conn.dialect.name][durable])  # for this commit
    return [driver_sql.execute(conn, s, p) for s, p in statements]
