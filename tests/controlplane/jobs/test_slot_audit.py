"""A slot held in the shared slot book by a job that is over (its owner died between the
job's finished row and the release) is freed by the replica holding the node's channel,
at the second audit that finds it; a job still running anywhere keeps its slot."""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from typing import cast

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.bus.events import Assign
from infernet.controlplane.jobs.owner import JobOwner
from infernet.controlplane.jobs.slot_audit import SlotAudit
from infernet.controlplane.nodes.registry import ChannelElsewhere, NodeRegistry
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.store.group_commit import GroupCommit
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.jobs import Completion, JobRecord, unfinished_among
from infernet.controlplane.store.tables import accounts
from infernet.protocol.wire import JobAssignment, JobCancel
from tests.support.cluster import shared_cluster

REQUEST = JobCreate(model="m", messages=[{"role": "user", "content": "go"}], max_tokens=5)


class Socket:
    async def send(self, message: JobAssignment | JobCancel) -> None:
        return None


class ElsewhereSocket(ChannelElsewhere, Socket):
    """The channel of a node connected to another replica."""


class SlotBook:
    """The shared slot book's sets, in memory."""

    def __init__(self) -> None:
        self.held: dict[str, set[str]] = {}

    async def reserve(self, node_id: str, job_id: str, capacity: int) -> tuple[bool, list[str]]:
        self.held.setdefault(node_id, set()).add(job_id)
        return True, sorted(self.held[node_id])

    async def release(self, node_id: str, job_id: str) -> list[str]:
        self.held.get(node_id, set()).discard(job_id)
        return sorted(self.held.get(node_id, set()))


async def stored(db: AsyncEngine, job_id: str, *, finished: bool) -> None:
    writes = GroupCommit(db)
    record = JobRecord(
        job_id, "alice", "m", "m", "pending", REQUEST.model_dump(mode="json"), utcnow()
    )
    await job_store.create(writes, record)
    if finished:
        done = Completion("node-here", "answer", 1, 1, "backend", "stop", 5.0, [])
        assert await job_store.complete(writes, job_id, done)


async def test_a_slot_held_by_a_finished_job_is_freed_at_the_second_audit(
    db: AsyncEngine,
) -> None:
    async with db.begin() as conn:
        await conn.execute(insert(accounts).values(id="alice", name="alice", created_at=utcnow()))
    await stored(db, "job-over", finished=True)  # its owner died before releasing the slot
    await stored(db, "job-running-elsewhere", finished=False)  # another replica runs it
    assert await unfinished_among(db, ["job-over", "job-running-elsewhere", "job-unknown"]) == {
        "job-running-elsewhere"
    }

    book, registry = SlotBook(), NodeRegistry(90)
    mine = SimpleNamespace(id="job-mine")
    owner = SimpleNamespace(live=lambda job_id: mine if job_id == "job-mine" else None)
    cluster = shared_cluster(owner=owner, registry=registry, slots=book)
    here = registry.ensure("node-here", "ab" * 32)
    here.channel, here.max_concurrent = Socket(), 8
    there = registry.ensure("node-there", "cd" * 32)
    there.channel, there.max_concurrent = ElsewhereSocket(), 8
    for job_id in ("job-over", "job-running-elsewhere", "job-mine", "job-unknown", "job-via"):
        await cluster.reserve(here, job_id)
    # Another replica's job, forwarded down this replica's channel to the node, whose row
    # is not stored yet (that replica's write may lag): kept, as it passes through here.
    via = JobAssignment(
        job_id="job-via", model="m", messages=[], max_tokens=5, temperature=1, top_p=1
    )
    await cluster.handle(Assign(owner="replica-b", node_id="node-here", assignment=via))
    await cluster.reserve(there, "job-over-there")  # the replica holding its channel audits it
    audit = SlotAudit(cast(JobOwner, owner), cluster, registry, partial(unfinished_among, db))

    assert await audit.audit() == []  # suspects, not yet freed: one may be on its way
    assert await audit.audit() == [("node-here", "job-over"), ("node-here", "job-unknown")]
    assert book.held["node-here"] == {"job-mine", "job-running-elsewhere", "job-via"}
    assert here.active_jobs == {"job-mine", "job-running-elsewhere", "job-via"}
    assert book.held["node-there"] == {"job-over-there"}
    assert await audit.audit() == []  # the running one keeps its slot
