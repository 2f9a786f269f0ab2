"""A job's stream pieces are stored in runs (a row per job per journal write) and load
back as the stream: in order, up to the first gap, a retried run replacing the one it
repeats."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from infernet.controlplane.store import pieces
from infernet.controlplane.store.migrate import alembic_config
from infernet.controlplane.store.tables import job_piece_runs


async def _rows(db: AsyncEngine) -> int:
    async with db.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(job_piece_runs))).scalar_one()
        )


async def test_runs_written_apart_load_as_one_stream(db: AsyncEngine) -> None:
    await pieces.append(db, [("job_1", 1, ["He", "llo"]), ("job_2", 1, ["Bon"])])
    await pieces.append(db, [("job_1", 3, [",", " wor", "ld"]), ("job_2", 2, ["jour"])])
    assert await pieces.load(db, "job_1") == ["He", "llo", ",", " wor", "ld"]
    assert await pieces.load(db, "job_2") == ["Bon", "jour"]
    assert await _rows(db) == 4, "a row per job per write, not per piece"


async def test_a_retried_run_replaces_the_shorter_one_it_repeats(db: AsyncEngine) -> None:
    # The first commit happened but was not confirmed; the retry starts from the same
    # piece with what came since.
    await pieces.append(db, [("job_1", 1, ["a", "b"])])
    await pieces.append(db, [("job_1", 1, ["a", "b", "c"])])
    await pieces.append(db, [("job_1", 4, ["d"])])
    assert await pieces.load(db, "job_1") == ["a", "b", "c", "d"]


async def test_a_run_that_overlaps_adds_only_its_new_pieces(db: AsyncEngine) -> None:
    await pieces.append(db, [("job_1", 1, ["a", "b", "c"]), ("job_1", 3, ["c", "d"])])
    assert await pieces.load(db, "job_1") == ["a", "b", "c", "d"]


async def test_the_stream_ends_at_the_first_gap(db: AsyncEngine) -> None:
    await pieces.append(db, [("job_1", 1, ["a"]), ("job_1", 3, ["c"])])
    assert await pieces.load(db, "job_1") == ["a"]


async def test_texts_keep_quotes_newlines_and_non_ascii(db: AsyncEngine) -> None:
    texts = ['"quoted"', "line\nbreak", "été ✓", "\\", ""]
    await pieces.append(db, [("job_1", 1, texts)])
    assert await pieces.load(db, "job_1") == texts


def _migrate(path: Path, revision: str, *, down: bool = False) -> None:
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)
    engine.dispose()


async def _load_both(path: Path) -> tuple[list[str], list[str]]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        return await pieces.load(engine, "job_1"), await pieces.load(engine, "job_2")
    finally:
        await engine.dispose()


def test_pieces_stored_before_the_upgrade_become_runs_and_come_back_on_a_downgrade(
    tmp_path: Path,
) -> None:
    path, before = tmp_path / "cp.db", "c3d8f2a61e07"  # the revision before runs
    stored = [("job_1", 1, "Hel"), ("job_1", 2, "lo"), ("job_2", 1, "été")]
    _migrate(path, before)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany("INSERT INTO job_pieces (job_id, seq, text) VALUES (?, ?, ?)", stored)
    _migrate(path, "head")
    assert asyncio.run(_load_both(path)) == (["Hel", "lo"], ["été"])
    _migrate(path, before, down=True)
    with closing(sqlite3.connect(path)) as conn:
        back = conn.execute("SELECT job_id, seq, text FROM job_pieces ORDER BY job_id, seq")
        assert back.fetchall() == stored
