"""Taking over the jobs of a replica that died, by leases in the database (no leader).

Every sweep the replica renews the leases of the jobs it runs (only those: a row it
leases but does not run lapses and is claimed again), and claims unfinished jobs whose
lease ran out. A claimed job is rebuilt from its row and the token stream the
bus kept: what was delivered stays delivered (the next node continues from it, as in
failover), the node that was running it is told to stop and its slot is freed, and the
job waits for a node here. Only with a shared bus: one process owns all its jobs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from infernet.controlplane.bus.base import StreamEntry
from infernet.controlplane.bus.events import CancelOnNode
from infernet.controlplane.jobs.live import LiveJob
from infernet.controlplane.money.accounting import Segment
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.store import leases
from infernet.controlplane.store.ids import utcnow
from infernet.protocol.wire import JobCancel

if TYPE_CHECKING:
    from infernet.controlplane.jobs.manager import JobManager

log = logging.getLogger("infernet.takeover")


async def _entries(manager: JobManager, job_id: str) -> list[StreamEntry]:
    entries: list[StreamEntry] = []
    while True:
        batch = await manager.cluster.bus.tokens.read(job_id, len(entries), 0.001)
        entries.extend(batch)
        if len(batch) < 1000:
            return entries


def _age_s(row: Mapping[str, Any]) -> float:
    created = row["created_at"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=utcnow().tzinfo)
    return max(0.0, float((utcnow() - created).total_seconds()))


async def adopt(manager: JobManager, row: Mapping[str, Any]) -> None:
    job_id = row["id"]
    if manager.live(job_id) is not None:
        return
    entries = await _entries(manager, job_id)
    pieces = [e.text for e in entries if e.kind == "piece"]
    job = LiveJob(
        job_id,
        row["account_id"],
        row["routing_key"],
        JobCreate.model_validate(row["request"]),
        time.monotonic() - _age_s(row),
    )
    job.stream = manager.cluster.new_stream(job_id, already=len(entries))
    job.stream.pieces = pieces
    job.attempt = int(row["attempts"] or 0)
    job.segments = [Segment(**s) for s in row["segments"] or []]
    job.attempt_start_piece = len(pieces)
    holders = _holders(manager, job_id, row["node_id"])
    lost_node = row["node_id"] or (holders[0] if holders else None)
    counted = sum(s.completion_tokens for s in job.segments if s.usage_source == "stream_count")
    if lost_node and len(pieces) > counted:
        job.segments.append(
            Segment(lost_node, job.attempt, 0, len(pieces) - counted, "stream_count")
        )
    for node_id in holders:
        await _stop_on_node(manager, node_id, job_id)
    log.warning("job taken over", extra={"job_id": job_id, "from": row["lease_owner"]})
    if any(e.terminal for e in entries):
        # The stream ended but the row was not finished: the owner died in between.
        manager.take_over(job)
        await manager.fail(
            job,
            "control_plane_lost",
            "The control plane running this job stopped as it finished; submit it again.",
        )
        return
    await job_store.update_job(
        manager.db, job_id, only_if_status=("processing",), status="pending", node_id=None
    )
    manager.take_over(job)


def _holders(manager: JobManager, job_id: str, row_node: str | None) -> list[str]:
    """The nodes the dead owner may have given `job_id` to: the row's, and any whose slot
    the job holds (the owner sends first and writes the row after, so a row can lack
    the node; a slot never freed would block a one-job node for good)."""
    holding = {n.node_id for n in manager.registry.all() if job_id in n.active_jobs}
    return sorted(holding | ({row_node} if row_node else set()))


async def _stop_on_node(manager: JobManager, node_id: str, job_id: str) -> None:
    cluster = manager.cluster
    await cluster.release(node_id, job_id)
    where = await cluster.bus.channels.where(node_id)
    if where is not None:
        await cluster.bus.send(
            where, CancelOnNode(node_id=node_id, cancel=JobCancel(job_id=job_id))
        )


async def tend(manager: JobManager, ttl_s: float) -> None:
    """Renew this replica's leases, drop jobs it no longer holds, adopt expired ones."""
    owner = manager.cluster.bus.replica_id
    # Only jobs live here are renewed, and they were live before the renewal started:
    # their rows were committed by then (submit adds a job only after its insert), so one
    # missing from `held` was really lost. A job submitted meanwhile waits for the next.
    live = {job.id for job in manager.unfinished()}
    held = await leases.renew(manager.db, owner, ttl_s, live)
    for job_id in live - held:
        if (job := manager.live(job_id)) is not None and job.finished_at is None:
            log.warning("job lease lost to another replica", extra={"job_id": job_id})
            manager.forget(job_id)
    for row in await leases.claim_expired(manager.db, owner, ttl_s):
        await adopt(manager, row)
