"""Every control-plane test that uses `harness` runs twice: on embedded SQLite and on a
throwaway PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

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
