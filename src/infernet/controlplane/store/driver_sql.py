"""SQLAlchemy statements run as SQLite's driver takes them, for the writes made on every
job (store/group_commit.py runs the job rows' moves through `execute`).

`Connection.execute` costs ~50 µs per small statement on this project's machines (its
cache key, an execution context, parameter processing, a result object): 147 µs for a
job's three row writes, against 27 µs for `sqlite3` alone, on the thread whose GIL the
event loop waits for. Here a statement is compiled once per set of parameter names, its
parameters converted by the columns' own types (each type's `bind_processor`: JSON,
datetimes as SQLAlchemy writes them), and run on the driver's connection, inside the
transaction the SQLAlchemy connection holds; errors, a held lock among them, are raised
as SQLAlchemy raises them (one_trip.py reads those). What is written is what
`Connection.execute` writes (tests/controlplane/store/test_driver_sql.py compares the
stored rows). Other databases, and statements whose SQL depends on the values (an
expanding `IN`), take `Connection.execute`; on PostgreSQL the job rows take `bound`'s SQL
straight to asyncpg instead (driver_pg.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Dialect, Executable
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Params = dict[str, Any] | None


@dataclass(frozen=True)
class _Prepared:
    compiled: SQLCompiler
    order: tuple[str, ...]  # the parameters' names, as the SQL's `?` come
    convert: dict[str, Callable[[Any], Any]]


# Per dialect (an engine's: its JSON serializer, say), (statement, parameter names) ->
# prepared, None where the SQL depends on the values. Bounded by the code: a module's
# statements, each with its few sets of names.
_PREPARED: WeakKeyDictionary[Dialect, dict[tuple[Executable, frozenset[str]], _Prepared | None]] = (
    WeakKeyDictionary()
)


def _prepare(dialect: Dialect, statement: Executable, names: frozenset[str]) -> _Prepared | None:
    if not isinstance(statement, ClauseElement):
        return None
    compiled = statement.compile(dialect=dialect, column_keys=sorted(names))
    if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
        return None
    if compiled.post_compile_params or compiled.literal_execute_params:
        return None
    convert: dict[str, Callable[[Any], Any]] = {}
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            convert[name] = process
    return _Prepared(compiled, tuple(compiled.positiontup), convert)


def bound(
    dialect: Dialect, statement: Executable, params: Params
) -> tuple[str, tuple[Any, ...]] | None:
    """`statement` with `params` as `dialect`'s driver takes them: the SQL and its
    positional values; None where the SQL depends on the values."""
    names = frozenset(params or ())
    known = _PREPARED.setdefault(dialect, {})
    key = (statement, names)
    if key not in known:
        known[key] = _prepare(dialect, statement, names)
    prepared = known[key]
    if prepared is None:
        return None
    values = prepared.compiled.construct_params(params)
    convert = prepared.convert
    args = tuple(
        convert[name](values[name]) if name in convert else values[name] for name in prepared.order
    )
    return prepared.compiled.string, args


def execute(conn: Connection, statement: Executable, params: Params) -> int:
    """Run `statement` with `params` on `conn`; its row count."""
    if conn.dialect.driver != "pysqlite":
        return int(conn.execute(statement, params).rowcount or 0)
    found = bound(conn.dialect, statement, params)
    if found is None:
        return int(conn.execute(statement, params).rowcount or 0)
    return run(conn, *found)


def run(conn: Connection, sql: str, args: Sequence[Any], *, many: bool = False) -> int:
    """Run driver-ready `sql` (`many`: once per row of `args`) on `conn`'s SQLite
    connection, in its transaction; the row count. Errors as SQLAlchemy raises them."""
    driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
    try:
        cursor = driver.executemany(sql, args) if many else driver.execute(sql, args)
    except sqlite3.Error as exc:  # OperationalError for a held lock, ... as SQLAlchemy's
        raise DBAPIError.instance(sql, args, exc, sqlite3.Error) from exc
    return int(cursor.rowcount)
