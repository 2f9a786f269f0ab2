"""Every control-plane test that uses `harness` or `db` runs twice: on embedded SQLite and
on a throwaway PostgreSQL (a module pins SQLite alone by overriding `database_url`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.db import open_database
from infernet.controlplane.store.one_trip import close_trips
from tests.support.harness import Harness, running
from tests.support.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None: the harness's own SQLite file; else a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return asyncio.run(server.create_database())


@pytest_asyncio.fixture
async def harness(tmp_path: Path, database_url: str | None) -> AsyncIterator[Harness]:
    async with running(tmp_path, database_url=database_url) as h:
        yield h


@pytest_asyncio.fixture
async def db(tmp_path: Path, database_url: str | None) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty control-plane database: a SQLite file, or the PostgreSQL one."""
    engine = await open_database(database_url or f"sqlite+aiosqlite:///{tmp_path / 'cp.db'}")
    try:
        yield engine
    finally:
        await close_trips(engine)
        await engine.dispose()
