"""store/driver_pg.py: the job rows' transactions sent to asyncpg directly write exactly
what SQLAlchemy's `Connection.execute` writes and count the same rows; a failed statement
takes its whole transaction back and spoils none after it; a connection the server closed
is replaced before the next transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.db import open_database
from infernet.controlplane.store.driver_pg import PgRows, pg_rows
from infernet.controlplane.store.one_trip import close_trips
from infernet.controlplane.store.tables import accounts, jobs
from tests.controlplane.store.test_driver_sql import JOB, writes
from tests.support.postgres import PostgresServer


@pytest_asyncio.fixture
async def two_databases(postgres_server: PostgresServer) -> AsyncIterator[list[AsyncEngine]]:
    """Two migrated PostgreSQL databases with the jobs' account: one written through
    SQLAlchemy, one through driver_pg."""
    engines = [await open_database(await postgres_server.create_database()) for _ in "ab"]
    for engine in engines:
        async with engine.begin() as conn:
            created = datetime(2026, 12, 5, tzinfo=UTC)
            await conn.execute(
                insert(accounts).values(id=JOB.account_id, name="a", created_at=created)
            )
    try:
        yield engines
    finally:
        for engine in engines:
            await close_trips(engine)
            await engine.dispose()


def direct(db: AsyncEngine) -> PgRows:
    rows = pg_rows(db)
    assert rows is not None
    return rows


async def stored(db: AsyncEngine) -> list[tuple[Any, ...]]:
    async with db.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text("SELECT * FROM jobs ORDER BY id")))]


async def test_the_driver_writes_what_sqlalchemy_writes(two_databases: list[AsyncEngine]) -> None:
    through_sa, through_driver = two_databases
    for job in (JOB, replace(JOB, id="j_2", request={"model": "m", "messages": []})):
        async with through_sa.begin() as conn:
            counted_sa = [int((await conn.execute(s, p)).rowcount) for s, p in writes(job)]
        counted = await direct(through_driver).run(writes(job))
        assert counted == counted_sa == [1, 1, 1, 0]
    rows = await stored(through_driver)
    assert len(rows) == 2 and rows == await stored(through_sa)


async def test_a_failed_statement_takes_back_its_transaction_and_spoils_no_later_one(
    two_databases: list[AsyncEngine],
) -> None:
    db = two_databases[1]
    stranger = replace(JOB, id="j_2", account_id="acct_unknown")  # no such account
    with pytest.raises(DBAPIError, match="foreign key"):
        await direct(db).run([writes(JOB)[0], writes(stranger)[0]])
    assert await stored(db) == []  # JOB's insert went back with it
    assert await direct(db).run(writes(JOB)[:1]) == [1]
    assert [r[0] for r in await stored(db)] == [JOB.id]


async def test_a_connection_the_server_closed_is_replaced_before_the_next_transaction(
    two_databases: list[AsyncEngine],
) -> None:
    db = two_databases[1]
    assert await direct(db).run(writes(JOB)[:1]) == [1]
    async with db.connect() as admin:  # as a restart of the server would
        await admin.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    await asyncio.sleep(0.3)  # the closed connection's end reaches this process
    job = writes(JOB)
    assert await direct(db).run([job[1]]) == [1]
    status = list(jobs.c.keys()).index("status")
    assert [r[status] for r in await stored(db)] == ["processing"]
