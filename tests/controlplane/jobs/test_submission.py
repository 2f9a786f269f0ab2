"""Submitting a job: it goes to its node while its row's commit is on its way (the two
overlap, so the commit is off the first token's path), the client is answered only once
the row is stored, and a job whose row cannot be stored never was: the client gets the
Book's error, no such job is listed or left running, and its node's slot is free again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from infernet.controlplane.store.driver_pg import PgRows, pg_rows
from infernet.controlplane.store.one_trip import OneTrip, one_trip
from tests.controlplane.jobs.test_jobs import MESSAGES, wait_final
from tests.support.harness import Harness
from tests.support.scripted import ScriptedBackend

JOB = {"model": "m:1b", "messages": MESSAGES}


def job_row_writes(harness: Harness) -> list[OneTrip | PgRows]:
    """What may commit the job rows' shared transactions (store/group_commit.py): the
    stream journal's trip on a SQLite file, asyncpg directly on PostgreSQL."""
    db = harness.control_plane.services.db
    direct = pg_rows(db)
    return [direct] if direct is not None else [one_trip(db), one_trip(db, relaxed=True)]


def wrap(
    trips: list[OneTrip | PgRows],
    monkeypatch: pytest.MonkeyPatch,
    before: Callable[[], Awaitable[None]],
) -> None:
    for trip in trips:
        run = trip.run

        async def wrapped(work: Any, run: Callable[[Any], Awaitable[Any]] = run) -> Any:
            await before()
            return await run(work)

        monkeypatch.setattr(trip, "run", wrapped)


async def test_a_job_reaches_its_node_before_its_row_is_committed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = ScriptedBackend(["m:1b"])
    await harness.add_node(backend)
    commits = asyncio.Event()
    wrap(job_row_writes(harness), monkeypatch, commits.wait)
    async with harness.client() as api:
        posted = asyncio.create_task(api.post("/api/v1/jobs", json=JOB))
        async with asyncio.timeout(10):
            while not backend.requests:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert not posted.done(), "the client is answered only once the job's row is stored"
        commits.set()
        response = await posted
    assert response.status_code == 202, response.text
    job = await wait_final(harness, response.json()["id"])
    assert (job["status"], job["result"]["content"]) == ("completed", "".join(backend.tokens))  # type: ignore[index]


async def test_a_job_whose_row_cannot_be_stored_never_was(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = ScriptedBackend(["m:1b"], delay_s=0.05)
    await harness.add_node(backend, max_concurrent_jobs=1)
    broken = True

    async def database_down() -> None:
        if broken:
            raise OperationalError("INSERT INTO jobs ...", {}, Exception("disk I/O error"))

    wrap(job_row_writes(harness), monkeypatch, database_down)
    async with harness.client() as api:
        refused = await api.post("/api/v1/jobs", json=JOB)
        assert refused.status_code == 500
        assert refused.json()["error"] == "internal_error"
        assert harness.control_plane.services.jobs.unfinished() == []
        broken = False
        # The one slot of the only node was given back: the next job runs.
        accepted = await api.post("/api/v1/jobs", json=JOB)
        assert accepted.status_code == 202, accepted.text
        job = await wait_final(harness, accepted.json()["id"])
        listed = (await api.get("/api/v1/jobs")).json()["jobs"]
    assert job["status"] == "completed"
    assert [j["id"] for j in listed] == [accepted.json()["id"]]
