"""Taking over unfinished jobs: those of a replica that died (by leases in the database,
no leader), and at start those this control plane ran before it stopped or crashed.

At start (`recover`) a control plane adopts every unfinished job whose lease it holds
(a replica restarted under the same `replica_id`) or whose lease ran out; a single
process, which no other process shares its database with, adopts them all. Then, every
sweep a replica with a shared bus renews the leases of the jobs it runs (only those: a
row it leases but does not run lapses and is claimed again), and claims unfinished jobs
whose lease ran out. A claimed job is rebuilt from its row and the token stream that was
stored (the bus's, or the database's: jobs/journal.py): what was delivered stays
delivered (the next node continues from it, as in failover), the node that was running
it is told to stop and its slot is freed, and the job waits for a node here, in the
order it was submitted; its `job_timeout_s` still counts from its submission. A dead
replica's finished jobs can leave their nodes' slots held: those are freed by the replica
holding each node's channel (slot_audit.py).
"""

from __future__ import annotations

import logging
import time
from functools import partial

from infernet.controlplane.bus.base import StreamEntry
from infernet.controlplane.bus.events import CancelOnNode
from infernet.controlplane.jobs.cluster import Cluster
from infernet.controlplane.jobs.failover import CONFIDENTIAL_LOST, timeout_message
from infernet.controlplane.jobs.live import LiveJob
from infernet.controlplane.jobs.owner import JobOwner
from infernet.controlplane.jobs.rows import JobRows
from infernet.controlplane.jobs.slot_audit import SlotAudit
from infernet.controlplane.money.accounting import Segment
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.store import leases
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.jobs import JobRecord, unfinished_among
from infernet.protocol.wire import JobCancel

log = logging.getLogger("infernet.takeover")


def _age_s(record: JobRecord) -> float:
    created = record.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=utcnow().tzinfo)
    return max(0.0, float((utcnow() - created).total_seconds()))


class Takeover:
    def __init__(
        self,
        owner: JobOwner,
        cluster: Cluster,
        registry: NodeRegistry,
        rows: JobRows,
        job_timeout_s: float,
    ) -> None:
        self._owner, self._cluster, self._registry = owner, cluster, registry
        self._rows, self._db = rows, rows.db
        self._timeout_s = job_timeout_s
        self._slots = SlotAudit(owner, cluster, registry, partial(unfinished_among, rows.db))

    async def tend(self, ttl_s: float) -> None:
        """Renew this replica's leases, drop jobs it no longer holds, adopt expired ones."""
        me = self._cluster.bus.replica_id
        # Only jobs whose rows were committed before the renewal started are renewed, so
        # one missing from `held` was really lost. A job submitted meanwhile waits.
        live = {job.id for job in self._owner.unfinished() if job.stored}
        held = await leases.renew(self._db, me, ttl_s, live)
        for job_id in live - held:
            if (job := self._owner.live(job_id)) is not None and job.finished_at is None:
                log.warning("job lease lost to another replica", extra={"job_id": job_id})
                self._owner.forget(job_id)
        for record in await leases.claim_expired(self._db, me, ttl_s):
            await self.adopt(record)
        await self._slots.due()  # and the slots a dead replica left held

    async def recover(self, ttl_s: float) -> int:
        """At start: adopt the unfinished jobs this control plane may run (see the module
        docstring); returns how many."""
        me, everything = self._cluster.bus.replica_id, not self._cluster.shared
        records = await leases.claim_at_start(self._db, me, ttl_s, everything=everything)
        for record in records:
            await self.adopt(record)
        if records:
            log.warning("unfinished jobs recovered", extra={"count": len(records)})
        return len(records)

    async def adopt(self, record: JobRecord) -> None:
        if self._owner.live(record.id) is not None:
            return
        entries = await self._entries(record.id)
        job = self._rebuild(record, entries)
        holders = self._holders(record.id, record.node_id)
        lost_node = record.node_id or (holders[0] if holders else None)
        counted = sum(s.completion_tokens for s in job.segments if s.usage_source == "stream_count")
        pieces = len(job.stream.pieces)
        if lost_node and pieces > counted:
            job.segments.append(
                Segment(lost_node, job.attempt, 0, pieces - counted, "stream_count")
            )
        for node_id in holders:
            await self._stop_on_node(node_id, record.id)
        log.warning("job taken over", extra={"job_id": record.id, "from": record.lease_owner})
        ending = None
        if any(e.terminal for e in entries):
            # The stream ended but the row was not finished: the owner died in between.
            ending = (
                "control_plane_lost",
                "The control plane running this job stopped as it finished; submit it again.",
            )
        elif _age_s(record) > self._timeout_s:  # its time ran out while no one ran it
            ending = ("timeout", timeout_message(self._timeout_s))
        elif job.request.encrypted is not None and job.stream.pieces:
            ending = ("node_disconnected", CONFIDENTIAL_LOST)  # no node can continue it
        if ending is None:
            await self._rows.requeue(record.id)  # stored first: then it may run
        await self._owner.adopt(job)
        if ending is not None:
            await self._owner.fail(job, *ending)

    def _rebuild(self, record: JobRecord, entries: list[StreamEntry]) -> LiveJob:
        """The job as it was when its owner died: what was streamed stays delivered."""
        pieces = [e.text for e in entries if e.kind == "piece"]
        request = JobCreate.model_validate(record.request)
        submitted = time.monotonic() - _age_s(record)
        job = LiveJob(record.id, record.account_id, record.routing_key, request, submitted)
        job.stream = self._cluster.new_stream(record.id, already=pieces)
        job.attempt = record.attempts
        job.segments = [Segment(**s) for s in record.segments or []]
        job.attempt_start_piece = len(pieces)
        return job

    async def _entries(self, job_id: str) -> list[StreamEntry]:
        """The job's stored stream: the bus's log, or without one the journal's pieces."""
        if self._cluster.keeper is not None and not self._cluster.shared:
            stored = await self._cluster.keeper.load(job_id)
            return [StreamEntry(i, "piece", text) for i, text in enumerate(stored, start=1)]
        entries: list[StreamEntry] = []
        while True:
            batch = await self._cluster.bus.tokens.read(job_id, len(entries), 0.001)
            entries.extend(batch)
            if len(batch) < 1000:
                return entries

    def _holders(self, job_id: str, row_node: str | None) -> list[str]:
        """The nodes the dead owner may have given `job_id` to: the row's, and any whose
        slot the job holds (the owner sends first and writes the row after, so a row can
        lack the node; a slot never freed would block a one-job node for good)."""
        holding = {n.node_id for n in self._registry.all() if job_id in n.active_jobs}
        return sorted(holding | ({row_node} if row_node else set()))

    async def _stop_on_node(self, node_id: str, job_id: str) -> None:
        bus = self._cluster.bus
        await self._cluster.release(node_id, job_id)
        where = await bus.channels.where(node_id)
        if where is not None:
            await bus.send(where, CancelOnNode(node_id=node_id, cancel=JobCancel(job_id=job_id)))
