"""Job leases (store/leases.py), on SQLite and PostgreSQL: a replica renews the leases of
the jobs it runs and only those, so a job it leases but does not run (a takeover that
did not finish) lapses and is claimed again rather than held forever; a lease another
replica claimed is not renewed; finished jobs are never claimed; a job sent to its node
before its row was committed is not taken for one whose lease was lost."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import cast

import pytest_asyncio
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.bus.memory import MemoryBus
from infernet.controlplane.jobs.cluster import Cluster
from infernet.controlplane.jobs.live import LiveJob
from infernet.controlplane.jobs.owner import JobOwner
from infernet.controlplane.jobs.rows import JobRows
from infernet.controlplane.jobs.takeover import Takeover
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.store import leases
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.tables import accounts, jobs

TTL = 15.0


@pytest_asyncio.fixture
async def db(db: AsyncEngine) -> AsyncEngine:
    """The shared database fixture, with the account the jobs here belong to."""
    async with db.begin() as conn:
        await conn.execute(insert(accounts).values(id="acct", name="acct", created_at=utcnow()))
    return db


async def add_job(
    db: AsyncEngine, job_id: str, owner: str, expires_in_s: float, status: str = "processing"
) -> None:
    async with db.begin() as conn:
        await conn.execute(
            insert(jobs).values(
                id=job_id,
                account_id="acct",
                model="m:1b",
                routing_key="m:1b",
                status=status,
                request={},
                attempts=1,
                created_at=utcnow(),
                lease_owner=owner,
                lease_expires_at=utcnow() + timedelta(seconds=expires_in_s),
            )
        )


async def test_a_replica_renews_only_the_leases_of_the_jobs_it_runs(db: AsyncEngine) -> None:
    await add_job(db, "job_run", "a", expires_in_s=-1)
    await add_job(db, "job_orphan", "a", expires_in_s=-1)  # leased by a, not run by it

    held = await leases.renew(db, "a", TTL, {"job_run"})
    claimed = await leases.claim_expired(db, "b", TTL)

    assert held == {"job_run"}
    assert [row.id for row in claimed] == ["job_orphan"]


async def test_a_lease_another_replica_claimed_is_not_renewed(db: AsyncEngine) -> None:
    await add_job(db, "job_1", "a", expires_in_s=-1)
    assert [row.id for row in await leases.claim_expired(db, "b", TTL)] == ["job_1"]

    assert await leases.renew(db, "a", TTL, {"job_1"}) == set()
    assert await leases.renew(db, "b", TTL, {"job_1"}) == {"job_1"}
    assert await leases.claim_expired(db, "c", TTL) == []


async def test_finished_jobs_and_live_leases_are_never_claimed(db: AsyncEngine) -> None:
    await add_job(db, "job_done", "a", expires_in_s=-1, status="completed")
    await add_job(db, "job_failed", "a", expires_in_s=-1, status="failed")
    await add_job(db, "job_live", "a", expires_in_s=TTL)

    assert await leases.claim_expired(db, "b", TTL) == []


async def test_renewing_many_jobs_renews_every_one(db: AsyncEngine) -> None:
    ids = {f"job_{n:04d}" for n in range(2 * leases.RENEW_BATCH + 3)}
    async with db.begin() as conn:
        await conn.execute(
            insert(jobs),
            [
                {
                    "id": job_id,
                    "account_id": "acct",
                    "model": "m:1b",
                    "routing_key": "m:1b",
                    "status": "pending",
                    "request": {},
                    "attempts": 0,
                    "created_at": utcnow(),
                    "lease_owner": "a",
                    "lease_expires_at": utcnow() - timedelta(seconds=1),
                }
                for job_id in ids
            ],
        )

    assert await leases.renew(db, "a", TTL, ids) == ids
    assert await leases.claim_expired(db, "b", TTL) == []


class Owner:
    """The job owner as takeover sees it (jobs/owner.py), running `jobs`."""

    def __init__(self, *jobs: LiveJob) -> None:
        self.jobs, self.forgotten = list(jobs), list[str]()

    def unfinished(self) -> list[LiveJob]:
        return self.jobs

    def live(self, job_id: str) -> LiveJob | None:
        return next((job for job in self.jobs if job.id == job_id), None)

    def forget(self, job_id: str) -> None:
        self.forgotten.append(job_id)


async def test_a_job_sent_before_its_row_is_committed_is_not_taken_for_lost(
    db: AsyncEngine,
) -> None:
    request = JobCreate.model_validate(
        {"model": "m:1b", "messages": [{"role": "user", "content": "hi"}]}
    )
    new = LiveJob("job_new", "acct", "m:1b", request, 0.0)
    row: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    new.stream.await_row(row)  # submitted: sent to its node, its row's commit on its way
    owner = Owner(new)
    bus, registry = MemoryBus(), NodeRegistry(90)
    caches = SimpleNamespace(forget=lambda _: None, forget_key=lambda _: None)
    cluster = Cluster(bus, registry, cast(JobOwner, owner), caches, None)
    takeover = Takeover(cast(JobOwner, owner), cluster, registry, JobRows(db), 300)

    await takeover.tend(TTL)
    assert owner.forgotten == [], "a lease it never had yet is not a lease lost"

    row.set_result(1)  # (no row was written here: now it counts as lost)
    await asyncio.sleep(0)
    await takeover.tend(TTL)
    assert owner.forgotten == ["job_new"]
