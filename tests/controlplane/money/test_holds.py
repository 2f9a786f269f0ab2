"""Holds a crash left open (money/holds.py), on SQLite and PostgreSQL: each ends settled
(its job completed) or released (its job failed, or was never stored because the crash
came between the hold and the job's row); a job still running keeps its hold, and doing
it twice moves money once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.money import ledger as acct
from infernet.controlplane.money.billing import LedgerAccounting
from infernet.controlplane.money.holds import close_open_holds
from infernet.controlplane.money.ledger import Ledger
from infernet.controlplane.money.pricing import Pricing
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.store.group_commit import GroupCommit
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.jobs import Completion, JobRecord
from infernet.controlplane.store.tables import accounts, ledger_transactions, nodes
from infernet.protocol.keys import NodeKey
from infernet.protocol.money import usdc

MODEL = "m:1b"
REQUEST = JobCreate(model=MODEL, messages=[{"role": "user", "content": "go"}], max_tokens=50)


async def books(db: AsyncEngine) -> tuple[LedgerAccounting, Ledger]:
    registry, ledger = NodeRegistry(90), Ledger(db)
    accounting = LedgerAccounting(db, registry, ledger, Pricing(db, registry), NodeKey.generate())
    async with db.begin() as conn:
        await conn.execute(insert(accounts).values(id="alice", name="alice", created_at=utcnow()))
        await conn.execute(
            insert(nodes).values(
                id="node_a",
                public_key=NodeKey.generate().public_hex,
                status="online",
                created_at=utcnow(),
                served_models=[],
                revoked=False,
            )
        )
    moves = [(acct.EXTERNAL_DEPOSITS, -usdc("10")), (acct.client_available("alice"), usdc("10"))]
    await ledger.post("deposit", "deposit:alice", moves)
    return accounting, ledger


async def held_job(db: AsyncEngine, accounting: LedgerAccounting, job_id: str, row: bool) -> None:
    await accounting.reserve("alice", job_id, REQUEST, MODEL)
    if row:
        record = JobRecord(
            job_id, "alice", MODEL, MODEL, "pending", REQUEST.model_dump(mode="json"), utcnow()
        )
        await job_store.create(GroupCommit(db), record)


def completion() -> Completion:
    segment = {"node_id": "node_a", "attempt": 1, "prompt_tokens": 3, "completion_tokens": 7}
    return Completion("node_a", "answer", 3, 7, "backend", "stop", 10.0, [segment])


async def kinds(db: AsyncEngine) -> dict[str, list[str]]:
    t = ledger_transactions
    async with db.connect() as conn:
        found = (await conn.execute(select(t.c.job_id, t.c.kind).order_by(t.c.kind))).all()
    by_job: dict[str, list[str]] = {}
    for job_id, kind in found:
        by_job.setdefault(str(job_id), []).append(str(kind))
    return by_job


async def test_each_open_hold_is_settled_or_released_as_its_job_ended(db: AsyncEngine) -> None:
    accounting, ledger = await books(db)
    for job_id, row in (("j_done", True), ("j_failed", True), ("j_lost", False), ("j_run", True)):
        await held_job(db, accounting, job_id, row)
    await job_store.complete(GroupCommit(db), "j_done", completion())
    await job_store.fail(GroupCommit(db), "j_failed", "node_disconnected", "gone")
    await job_store.mark_processing(GroupCommit(db), "j_run", "node_a", 1)
    later = utcnow() + timedelta(seconds=1)

    assert await close_open_holds(db, accounting, later) == 3
    assert await close_open_holds(db, accounting, later) == 0  # nothing moves twice

    found = await kinds(db)
    assert found["j_done"] == ["hold", "settle"]
    assert found["j_failed"] == ["hold", "release"]
    assert found["j_lost"] == ["hold", "release"]
    assert found["j_run"] == ["hold"]  # its owner settles it when it ends
    held = await ledger.balance(acct.client_held("alice"))
    assert held == await ledger.job_total("j_run", acct.client_held("alice")) > Decimal(0)
    assert await ledger.balance(acct.earnings("node_a")) > 0  # the node was paid


async def test_a_hold_younger_than_the_cutoff_is_left_alone(db: AsyncEngine) -> None:
    accounting, _ = await books(db)
    await held_job(db, accounting, "j_new", row=False)  # its job row may be on its way
    assert await close_open_holds(db, accounting, utcnow() - timedelta(seconds=60)) == 0
    assert (await kinds(db))["j_new"] == ["hold"]
