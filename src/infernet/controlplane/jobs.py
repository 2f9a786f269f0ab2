"""Job lifecycle: submit, queue, dispatch down a node's channel, relay, finish exactly once.

States: pending -> processing -> completed | failed. Each dispatch is an *attempt*; a
node's messages count only for the attempt it was given, so a late or duplicated message
can never finish, re-run or double-bill a job. A finished job is never overwritten.
A node lost before it streamed anything gives the job back to the queue; a job not
finished within `job_timeout_s` of submission fails with `timeout`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.accounting import Accounting, FinishedJob, NoAccounting, Segment
from infernet.controlplane.errors import BadRequest, ModelNotFound
from infernet.controlplane.ids import new_id, utcnow
from infernet.controlplane.registry import NodeRegistry, NodeState
from infernet.controlplane.router import pick_node
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.settings import Settings
from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.streams import JobStream
from infernet.protocol.modelnames import AmbiguousModelName, UnknownModelName, resolve_model
from infernet.protocol.wire import JobAssignment, JobDone, JobFailed, JobToken, UsageReport

log = logging.getLogger("infernet.jobs")
STREAM_RETENTION_S = 600.0


@dataclass
class LiveJob:
    id: str
    account_id: str
    key: str
    request: JobCreate
    submitted: float  # monotonic
    stream: JobStream = field(default_factory=JobStream)
    node_id: str | None = None
    attempt: int = 0
    started: float | None = None
    finished_at: float | None = None
    usage: UsageReport | None = None  # set when the job completed
    finish_reason: str | None = None


class JobManager:
    def __init__(
        self,
        db: AsyncEngine,
        registry: NodeRegistry,
        settings: Settings,
        accounting: Accounting | None = None,
    ) -> None:
        self._db = db
        self._accounting: Accounting = accounting or NoAccounting()
        self._registry = registry
        self._settings = settings
        self._live: dict[str, LiveJob] = {}
        self._waiting: deque[str] = deque()

    def live(self, job_id: str) -> LiveJob | None:
        return self._live.get(job_id)

    def queue_position(self, job_id: str) -> int | None:
        try:
            return self._waiting.index(job_id) + 1
        except ValueError:
            return None

    def served_names(self) -> list[str]:
        return sorted(
            {
                n.served[key]
                for key, nodes in self._registry.online_models().items()
                for n in nodes[:1]
            }
        )

    def resolve(self, model: str) -> str:
        """The routing key of the online model `model` names, or a client error saying
        which models are served (never a different model than the one asked for)."""
        try:
            return resolve_model(model, self._registry.online_models().keys())
        except AmbiguousModelName as exc:
            raise BadRequest(str(exc)) from exc
        except UnknownModelName as exc:
            served = ", ".join(self.served_names()) or "none (no node is online)"
            raise ModelNotFound(
                f"No online node serves model '{model}'. Models served now: {served}."
            ) from exc

    async def submit(self, account_id: str, request: JobCreate) -> LiveJob:
        key = self.resolve(request.model)
        job = LiveJob(new_id("job"), account_id, key, request, time.monotonic())
        await self._accounting.reserve(account_id, job.id, request)
        self._live[job.id] = job
        await job_store.insert_job(
            self._db,
            id=job.id,
            account_id=account_id,
            model=request.model,
            routing_key=key,
            status="pending",
            request=request.model_dump(mode="json"),
            attempts=0,
            created_at=utcnow(),
        )
        self._waiting.append(job.id)
        await self.dispatch_waiting()
        return job

    async def dispatch_waiting(self) -> None:
        """Start every waiting job that some node can take now, oldest first."""
        for job_id in list(self._waiting):
            job = self._live.get(job_id)
            if job is None or job.finished_at is not None:
                self._waiting.remove(job_id)
                continue
            node = pick_node(
                self._registry.serving(job.key),
                job.key,
                self._registry.offline_after_s,
                pinned=job.request.node_id,
            )
            if node is not None:
                self._waiting.remove(job_id)
                await self._start(job, node)

    async def _start(self, job: LiveJob, node: NodeState) -> None:
        job.attempt += 1
        job.node_id, job.started = node.node_id, time.monotonic()
        node.active_jobs.add(job.id)  # reserved before any await: no double booking
        r = job.request
        assignment = JobAssignment(
            job_id=job.id,
            attempt=job.attempt,
            model=node.served[job.key],
            messages=r.messages,
            max_tokens=r.max_tokens,
            temperature=r.temperature,
            top_p=r.top_p,
            stop=r.stop,
            seed=r.seed,
        )
        await job_store.update_job(
            self._db,
            job.id,
            status="processing",
            node_id=node.node_id,
            started_at=utcnow(),
            attempts=job.attempt,
        )
        log.info(
            "job dispatched",
            extra={"job_id": job.id, "node_id": node.node_id, "attempt": job.attempt},
        )
        try:
            assert node.channel is not None
            await node.channel.send(assignment)
        except Exception:
            log.exception("sending job to node failed", extra={"job_id": job.id})
            await self._requeue(job, node)

    def _current(self, node_id: str, job_id: str, attempt: int) -> LiveJob | None:
        job = self._live.get(job_id)
        if job is None or job.finished_at is not None:
            return None
        if job.node_id != node_id or job.attempt != attempt:
            return None
        return job

    async def on_token(self, node_id: str, message: JobToken) -> None:
        if job := self._current(node_id, message.job_id, message.attempt):
            await job.stream.push(message.text)

    async def on_done(self, node_id: str, message: JobDone) -> None:
        job = self._current(node_id, message.job_id, message.attempt)
        if job is None:
            return
        usage = job.usage = message.usage
        job.finish_reason = message.finish_reason
        latency_ms = (time.monotonic() - job.submitted) * 1000
        stored = await job_store.update_job(
            self._db,
            job.id,
            only_if_status=("processing",),
            status="completed",
            content=job.stream.text,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            usage_source=usage.source,
            finish_reason=message.finish_reason,
            completed_at=utcnow(),
            latency_ms=latency_ms,
        )
        await self._close(job, node_id)
        if stored:
            segment = Segment(
                node_id, message.attempt, usage.prompt_tokens, usage.completion_tokens, usage.source
            )
            await self._accounting.settle(
                FinishedJob(job.id, job.account_id, job.request.model, job.key, [segment])
            )
            await job.stream.finish()

    async def on_failed(self, node_id: str, message: JobFailed) -> None:
        if job := self._current(node_id, message.job_id, message.attempt):
            await self._fail(job, message.error, message.message)

    async def _fail(self, job: LiveJob, code: str, text: str) -> None:
        await job_store.update_job(
            self._db,
            job.id,
            only_if_status=("pending", "processing"),
            status="failed",
            error=code,
            error_message=text,
            completed_at=utcnow(),
        )
        await self._close(job, job.node_id)
        await job.stream.fail(code, text)
        log.info("job failed", extra={"job_id": job.id, "error": code})

    async def _close(self, job: LiveJob, node_id: str | None) -> None:
        job.finished_at = time.monotonic()
        if node_id and (node := self._registry.get(node_id)):
            node.active_jobs.discard(job.id)
        await self.dispatch_waiting()

    async def _requeue(self, job: LiveJob, node: NodeState) -> None:
        node.active_jobs.discard(job.id)
        job.node_id = None
        await job_store.update_job(
            self._db, job.id, only_if_status=("processing",), status="pending", node_id=None
        )
        self._waiting.appendleft(job.id)

    async def node_lost(self, node_id: str) -> None:
        """The node's channel closed: give back what it had not started streaming."""
        for job in [
            j for j in self._live.values() if j.node_id == node_id and j.finished_at is None
        ]:
            node = self._registry.get(node_id)
            if not job.stream.pieces and node is not None:
                await self._requeue(job, node)
            else:
                await self._fail(job, "node_disconnected", "Node went offline mid-stream")
        await self.dispatch_waiting()

    async def sweep(self) -> None:
        """Fail overdue jobs and forget finished ones whose replay window has passed."""
        now = time.monotonic()
        for job in list(self._live.values()):
            if job.finished_at is None and now - job.submitted > self._settings.job_timeout_s:
                minutes = self._settings.job_timeout_s / 60
                await self._fail(job, "timeout", f"Job did not complete within {minutes:g} minutes")
            elif job.finished_at is not None and now - job.finished_at > STREAM_RETENTION_S:
                del self._live[job.id]

    def stats(self) -> dict[str, Any]:
        running = sum(1 for j in self._live.values() if j.finished_at is None and j.node_id)
        return {"waiting": len(self._waiting), "running": running}
