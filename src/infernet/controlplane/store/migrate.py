"""Schema migrations with Alembic, for SQLite and PostgreSQL alike.

The control plane upgrades its database to the newest revision at start-up; several
replicas starting together are serialized by Alembic's version table inside one
transaction (PostgreSQL also takes an advisory lock here). New schema changes are new
revisions: `python -m infernet.controlplane.store.migrate revision "message"` writes one
by comparing `tables.py` with a scratch database at the current head.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_ID = 0x1F3E_7A11  # arbitrary, constant: the PostgreSQL advisory lock for migrations


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_ID})"))
    command.upgrade(alembic_config(connection), "head")


async def upgrade_to_head(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


def _revision(message: str) -> None:
    import asyncio
    import tempfile

    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        with tempfile.TemporaryDirectory() as scratch:
            engine = create_async_engine(f"sqlite+aiosqlite:///{scratch}/head.db")
            await upgrade_to_head(engine)
            async with engine.begin() as conn:
                await conn.run_sync(
                    lambda c: command.revision(
                        alembic_config(c), message=message, autogenerate=True
                    )
                )
            await engine.dispose()

    asyncio.run(run())


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "revision":
        sys.exit('usage: python -m infernet.controlplane.store.migrate revision "message"')
    _revision(sys.argv[2])
