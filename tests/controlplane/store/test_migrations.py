"""The schema comes from Alembic revisions, and they match `store/tables.py` exactly."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from infernet.controlplane.store.db import open_database
from infernet.controlplane.store.tables import metadata
from tests.support.postgres import PostgresServer


def _differences(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def _upgrade_then_compare(url: str) -> list[Any]:
    engine = await open_database(url)  # runs every revision up to head
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_differences)
    finally:
        await engine.dispose()


async def test_revisions_build_exactly_the_tables_on_sqlite(tmp_path: Path) -> None:
    diff = await _upgrade_then_compare(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    assert diff == [], (
        "tables.py changed without a migration: run "
        '`python -m infernet.controlplane.store.migrate revision "what changed"`'
    )


def test_revisions_build_exactly_the_tables_on_postgresql(
    postgres_server: PostgresServer,
) -> None:
    url = asyncio.run(postgres_server.create_database())
    assert asyncio.run(_upgrade_then_compare(url)) == []


async def test_starting_twice_on_the_same_database_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    for _ in range(2):
        engine = await open_database(url)
        await engine.dispose()
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        assert await conn.run_sync(_differences) == []
    await engine.dispose()
