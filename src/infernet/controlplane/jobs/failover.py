"""Failover: taking a job back from a node that went away, stalled or failed it.

When a node's channel closes or it goes silent for `stall_timeout_s` while running a
job, the job is taken back. If nothing was streamed yet it simply runs elsewhere. If
tokens were already delivered, the next node gets the client's messages plus the
delivered text as an assistant prefix and continues the answer (LiveJob.
continuation_messages); the client's stream goes on without repeating anything. Each
node's share is recorded as a segment (the lost node's completion count is the number of
token messages it streamed, marked `stream_count`, since it never reported usage). A job
whose nodes already produced its `max_tokens` completes with what was streamed instead of
running again. After `max_attempts` the job fails with `node_disconnected`; a job not
finished `job_timeout_s` after submission fails with `timeout`.

This module only decides, for a job already running, that it must go elsewhere or end;
the job's owner (owner.py) carries the decision out.
"""

from __future__ import annotations

import logging
import time

from infernet.controlplane.jobs.cluster import Cluster
from infernet.controlplane.jobs.live import LiveJob
from infernet.controlplane.jobs.owner import JobOwner
from infernet.controlplane.jobs.streams import STREAM_RETENTION_S
from infernet.controlplane.money.accounting import Segment
from infernet.controlplane.nodes.registry import NodeRegistry, NodeState
from infernet.controlplane.settings import Settings
from infernet.protocol.wire import JobCancel, RunningAttempt

log = logging.getLogger("infernet.jobs")
# A confidential job's prefix is ciphertext we cannot read, so no node can continue it.
CONFIDENTIAL_LOST = (
    "The node went away mid-answer; a confidential job cannot be continued elsewhere "
    "(the control plane cannot read what was streamed). Submit it again."
)


class Failover:
    def __init__(
        self, owner: JobOwner, registry: NodeRegistry, cluster: Cluster, settings: Settings
    ) -> None:
        self._owner, self._registry, self._cluster = owner, registry, cluster
        self._settings = settings

    async def engine_down(
        self, job: LiveJob, node: NodeState, detail: str, *, elsewhere: bool
    ) -> None:
        """The node's engine is down: route around the node until a heartbeat says it is
        back. The job continues `elsewhere` if another node can take it now; if not, it
        waits (its timeout and max_attempts still apply) for this node, which restarts
        its engine (engine/supervisor.py), instead of failing at once."""
        node.backend_healthy, node.backend_detail = False, detail
        await self.take_back(job, node, "backend_unavailable", exclude=elsewhere)

    async def take_back(
        self, job: LiveJob, node: NodeState, why: str, *, exclude: bool = True
    ) -> None:
        """Stop counting on `node` for `job`: re-route it, continuing what was streamed.
        `exclude`: never give it back to this node (False: the node may take it again
        once it is well, e.g. after its engine restarted)."""
        node.active_jobs.discard(job.id)
        await self._cluster.release(node.node_id, job.id)
        if exclude and job.request.node_id is None:  # a pinned job has nowhere else to go
            job.excluded.add(node.node_id)
        streamed = len(job.stream.pieces) - job.attempt_start_piece
        if streamed:
            job.segments.append(Segment(node.node_id, job.attempt, 0, streamed, "stream_count"))
        log.warning(
            "job taken back from node",
            extra={"job_id": job.id, "node_id": node.node_id, "why": why, "streamed": streamed},
        )
        if job.produced_tokens >= job.request.max_tokens:  # nothing left to produce
            job.finish_reason = "length"
            await self._owner.finish_relayed(job)
        elif job.request.encrypted is not None and job.stream.pieces:  # docs/operations.md
            await self._owner.fail(job, "node_disconnected", CONFIDENTIAL_LOST)
        elif job.attempt >= self._settings.max_attempts:
            await self._owner.fail(job, *_gave_up(job, node, why))
        else:
            await self._owner.requeue(job)

    async def node_lost(self, node_id: str, only: set[str] | None = None) -> None:
        """The node's channel closed: every job it was running (of `only`, when given:
        those sent through the socket that closed) goes elsewhere."""
        node = self._registry.get(node_id)
        if node is None:
            return
        for job in self._owner.unfinished():
            if job.node_id == node_id and (only is None or job.id in only):
                await self.take_back(job, node, "channel_closed")

    async def still_running(self, node_id: str, running: list[RunningAttempt]) -> None:
        """The node (re)opened its channel and named the attempts it still runs: each one
        this control plane no longer counts on (the job went elsewhere, ended, or was
        adopted after a restart and waits to run again) is cancelled on the node, and
        the job's next attempt gets a number after it, so the two are never confused.
        With several replicas a job not run here is its owner's to judge."""
        node = self._registry.get(node_id)
        if node is None:
            return
        for attempt in running:
            job = self._owner.live(attempt.job_id)
            if job is None and self._cluster.shared:
                continue
            if job is not None:
                if job.node_id == node_id and job.attempt == attempt.attempt:
                    continue  # the running attempt of this job: it goes on
                job.attempt = max(job.attempt, attempt.attempt)
            log.warning(
                "node still runs an attempt no longer counted on: cancelled",
                extra={"job_id": attempt.job_id, "node_id": node_id},
            )
            await cancel_on_node(attempt.job_id, node, attempt.attempt)

    async def sweep(self, jobs: list[LiveJob]) -> None:
        """Fail overdue jobs, take back stalled ones, forget finished ones after a while."""
        settings, now = self._settings, time.monotonic()
        for job in jobs:
            if job.finished_at is not None:
                if now - job.finished_at > STREAM_RETENTION_S:
                    self._owner.forget(job.id)
            elif now - job.submitted > settings.job_timeout_s:
                await self._owner.fail(job, "timeout", timeout_message(settings.job_timeout_s))
            elif job.node_id and now - job.last_progress > settings.stall_timeout_s:
                node = self._registry.get(job.node_id)
                if node is not None:
                    await cancel_on_node(job.id, node, job.attempt)
                    await self.take_back(job, node, "stalled")


def timeout_message(timeout_s: float) -> str:
    return f"Job did not complete within {timeout_s / 60:g} minutes"


def _gave_up(job: LiveJob, node: NodeState, why: str) -> tuple[str, str]:
    """The error a job ends with when no attempt could finish it."""
    if why == "backend_unavailable":
        return (
            "backend_unavailable",
            f"The node's inference backend failed {job.attempt} times while answering; "
            f"last: {node.backend_detail}",
        )
    return (
        "node_disconnected",
        f"Node went offline mid-stream ({why}); no node could finish it "
        f"after {job.attempt} attempts",
    )


async def cancel_on_node(job_id: str, node: NodeState, attempt: int | None = None) -> None:
    """Tell the node to stop running the job (that attempt of it, when given); best
    effort: its channel may be gone."""
    if node.channel is not None:
        try:
            await node.channel.send(JobCancel(job_id=job_id, attempt=attempt))
        except Exception:
            log.warning("could not tell node to cancel", extra={"job_id": job_id})
