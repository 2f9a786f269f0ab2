"""store/driver_sql.py: a statement run as SQLite's driver takes it writes exactly what
SQLAlchemy's `Connection.execute` writes, counts the same rows and fails the same way."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Executable, create_engine, update
from sqlalchemy.exc import OperationalError

from infernet.controlplane.store import driver_sql
from infernet.controlplane.store.jobs import _INSERT, UNFINISHED, JobRecord, _moving
from infernet.controlplane.store.tables import jobs, metadata

SUBMITTED = datetime(2026, 12, 3, 20, 15, 1, 123456, tzinfo=UTC)
JOB = JobRecord(
    id="j_1",
    account_id="acct_1",
    model="smollm2:135m",
    routing_key="smollm2:135m",
    status="pending",
    request={"model": "smollm2:135m", "messages": [{"role": "user", "content": "héllo \u2603"}]},
    created_at=SUBMITTED,
)


def writes(job: JobRecord) -> list[tuple[Executable, dict[str, Any]]]:
    """A job's life: inserted, running, completed, then a late duplicate `complete`."""
    done = {
        "status": "completed",
        "content": "Paris",
        "prompt_tokens": 6,
        "completion_tokens": 2,
        "segments": [{"node_id": "n_1", "tokens": 2, "price": "0.001"}],
        "provenance": None,
        "completed_at": datetime(2026, 12, 3, 20, 15, 2, tzinfo=UTC),
        "latency_ms": 12.5,
    }
    return [
        (_INSERT, {f.name: getattr(job, f.name) for f in fields(job)}),
        _moving(
            job.id,
            UNFINISHED,
            status="processing",
            node_id="n_1",
            started_at=SUBMITTED,
            attempts=1,
            routing={"reason": "load"},
        ),
        _moving(job.id, UNFINISHED, **done),
        _moving(job.id, UNFINISHED, **done),  # finished already: 0 rows
    ]


@pytest.fixture
def connections(tmp_path: Path) -> Iterator[tuple[Connection, Connection]]:
    engines = [create_engine(f"sqlite:///{tmp_path / name}.db") for name in ("sa", "driver")]
    for engine in engines:
        metadata.create_all(engine)
    with engines[0].connect() as through_sa, engines[1].connect() as through_driver:
        yield through_sa, through_driver
    for engine in engines:
        engine.dispose()


def stored(path: Path) -> list[tuple[Any, ...]]:
    """The committed rows, read by a connection of their own."""
    with sqlite3.connect(path) as reader:
        return reader.execute("SELECT * FROM jobs ORDER BY id").fetchall()


def test_the_driver_writes_what_sqlalchemy_writes(
    connections: tuple[Connection, Connection], tmp_path: Path
) -> None:
    through_sa, through_driver = connections
    for job in (JOB, replace(JOB, id="j_2", request={"model": "m", "messages": []})):
        with through_sa.begin():  # as one_trip.py runs each shared transaction
            counted_sa = [int(through_sa.execute(s, p).rowcount) for s, p in writes(job)]
        with through_driver.begin():
            counted = [driver_sql.execute(through_driver, s, p) for s, p in writes(job)]
        assert counted == counted_sa == [1, 1, 1, 0]
    rows = stored(tmp_path / "driver.db")
    assert len(rows) == 2 and rows == stored(tmp_path / "sa.db")
    assert rows[0][jobs.c.keys().index("created_at")] == str(SUBMITTED.replace(tzinfo=None))


def test_a_statement_whose_sql_depends_on_its_values_still_runs(
    connections: tuple[Connection, Connection],
) -> None:
    _, conn = connections
    driver_sql.execute(conn, *writes(JOB)[0])
    expanding = update(jobs).where(jobs.c.status.in_(["pending", "processing"]))
    assert driver_sql.execute(conn, expanding, {"error": "x"}) == 1


def test_a_held_lock_comes_as_sqlalchemys_error(
    connections: tuple[Connection, Connection], tmp_path: Path
) -> None:
    _, conn = connections
    conn.exec_driver_sql("PRAGMA busy_timeout = 0")
    holder = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked"):
            driver_sql.execute(conn, *writes(JOB)[0])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
