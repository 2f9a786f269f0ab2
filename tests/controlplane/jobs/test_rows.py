"""`JobRows`: which node runs an attempt is stored after its first token (its commit
would hold up the first token's), or before the job's next move when that comes first;
a job's writes never overtake each other."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.jobs.rows import JobRows
from infernet.controlplane.store.accounts import create_account
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.jobs import JobRecord
from infernet.controlplane.store.tables import jobs


async def row(db: AsyncEngine, job_id: str) -> dict[str, object]:
    async with db.connect() as conn:
        found = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).mappings().one()
    return dict(found)


async def submitted(db: AsyncEngine, rows: JobRows, job_id: str) -> None:
    account = await create_account(db, "alice")
    await rows.create(JobRecord(job_id, account, "m:1b", "m:1b", "pending", {}, utcnow()))


async def test_the_running_node_is_stored_after_the_first_token_not_at_dispatch(
    db: AsyncEngine,
) -> None:
    rows = JobRows(db)
    await submitted(db, rows, "job_a")
    rows.started("job_a", "node_a", 1)
    await rows.fail("job_b", "timeout", "no such job: a write to wait behind")
    assert (await row(db, "job_a"))["status"] == "pending", "nothing written at dispatch"
    rows.first_token("job_a")
    await rows.fail("job_b", "timeout", "again")
    stored = await row(db, "job_a")
    assert (stored["status"], stored["node_id"], stored["attempts"]) == ("processing", "node_a", 1)


async def test_a_take_back_before_any_token_stores_the_attempt_first(db: AsyncEngine) -> None:
    rows = JobRows(db)
    await submitted(db, rows, "job_a")
    rows.started("job_a", "node_a", 1)
    assert await rows.requeue("job_a", [{"node_id": "node_a", "completion_tokens": 0}])
    stored = await row(db, "job_a")
    assert (stored["status"], stored["node_id"], stored["attempts"]) == ("pending", None, 1)
    assert stored["segments"] == [{"node_id": "node_a", "completion_tokens": 0}]
