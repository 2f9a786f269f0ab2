"""Insert a row, or update it where its key exists: one statement on SQLite and
PostgreSQL alike (`INSERT ... ON CONFLICT ... DO UPDATE`), so it needs no read first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert


def upsert_statement(
    conn: AsyncConnection,
    table: Table,
    values: Mapping[str, Any],
    keys: Sequence[str],
    changes: Mapping[str, Any],
    where: ColumnElement[bool] | None = None,
) -> Insert:
    """The statement: insert `values`; on a conflict on `keys`, set `changes` (column ->
    value or expression over the existing row), only where `where` holds of it if given."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    chosen: Insert = statement.on_conflict_do_update(
        index_elements=list(keys), set_=dict(changes), where=where
    )
    return chosen


async def upsert(
    conn: AsyncConnection,
    table: Table,
    values: Mapping[str, Any],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert `values`, or set the columns named in `update` to theirs."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    excluded = dialect.insert(table).excluded
    changes = {name: excluded[name] for name in update}
    await conn.execute(upsert_statement(conn, table, values, keys, changes))
