"""Database engine lifecycle: connect, tune SQLite, bring the schema to the newest
revision."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from infernet.controlplane.store.migrate import upgrade_to_head


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


async def open_database(url: str) -> AsyncEngine:
    sqlite = url.startswith("sqlite")
    # SQLite: wait for a busy writer instead of failing with "database is locked".
    engine = create_async_engine(url, connect_args={"timeout": 30} if sqlite else {})
    if engine.dialect.name == "sqlite":
        sync_engine: Engine = engine.sync_engine
        event.listen(sync_engine, "connect", _sqlite_pragmas)
    await upgrade_to_head(engine)
    return engine
