"""Job lifecycle: submit, queue, dispatch down a node's channel, relay, finish exactly once.

States: pending -> processing -> completed | failed. Each dispatch is an *attempt*; a
node's messages count only for the attempt it was given, so a late or duplicated message
can never finish, re-run or double-bill a job. A finished job is never overwritten.
What a node says is a claim: its tokens are relayed, and its usage believed, only within
the bounds of the attempt it was sent (claims.py); a claim past them is an offence.
`JobManager` is the one owner of a job's state (owner.py): every move goes through it.
Failover (failover.py), replicas and takeover (cluster.py, takeover.py), the rows' shared
commits (rows.py) and the streams' journal (journal.py) each say how they work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from itertools import takewhile
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.bus.base import Bus
from infernet.controlplane.errors import NoCapacity
from infernet.controlplane.jobs import admission, claims
from infernet.controlplane.jobs.claims import AttemptBound
from infernet.controlplane.jobs.cluster import Caches, Cluster
from infernet.controlplane.jobs.context import ContextGuard
from infernet.controlplane.jobs.events import JobEvents, NoJobEvents
from infernet.controlplane.jobs.failover import Failover, cancel_on_node
from infernet.controlplane.jobs.journal import StreamJournal
from infernet.controlplane.jobs.live import LiveJob
from infernet.controlplane.jobs.names import ModelNames
from infernet.controlplane.jobs.owner import NodeMessage
from infernet.controlplane.jobs.placement import Placement
from infernet.controlplane.jobs.preferences import Preferences
from infernet.controlplane.jobs.provenance import ProvenanceCheck
from infernet.controlplane.jobs.reading import Entries, StreamOpener
from infernet.controlplane.jobs.rows import JobRows
from infernet.controlplane.jobs.streams import STREAM_RETENTION_S, StreamArchive
from infernet.controlplane.jobs.takeover import Takeover
from infernet.controlplane.money.accounting import Accounting, FinishedJob, NoAccounting, Segment
from infernet.controlplane.nodes.offences import Offences
from infernet.controlplane.nodes.registry import NodeRegistry, NodeState
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.settings import Settings
from infernet.controlplane.store.ids import new_id
from infernet.controlplane.store.jobs import JobRecord
from infernet.controlplane.store.leases import lease_expiry
from infernet.protocol.wire import (
    CONTEXT_LENGTH_EXCEEDED,
    Heartbeat,
    JobDone,
    JobFailed,
    JobToken,
    JobTokens,
    RunningAttempt,
)

log = logging.getLogger("infernet.jobs")


class JobManager:
    def __init__(
        self,
        db: AsyncEngine,
        registry: NodeRegistry,
        settings: Settings,
        *,
        bus: Bus,
        caches: Caches,
        accounting: Accounting | None = None,
        events: JobEvents | None = None,
        provenance: ProvenanceCheck | None = None,
    ) -> None:
        self._db, self._registry, self._settings = db, registry, settings
        self._rows = JobRows(db)  # the job rows' writes, in order, sharing commits
        self._accounting: Accounting = accounting or NoAccounting()
        self._events: JobEvents = events or NoJobEvents()
        self._provenance = provenance
        self._offences = Offences(db, registry, caches)
        self.cluster = Cluster(bus, registry, self, caches, StreamJournal(db))
        self._failover = Failover(self, registry, self.cluster, settings)
        self._takeover = Takeover(self, self.cluster, registry, self._rows, settings.job_timeout_s)
        self.context = ContextGuard(registry, self, self._failover, self._offences, settings)
        self._live: dict[str, LiveJob] = {}
        self.archive = StreamArchive(STREAM_RETENTION_S)  # finished jobs' streams, for replay
        self._streams = StreamOpener(
            self.live, self.archive, self.cluster, settings.sse_keepalive_s
        )
        self._waiting: deque[str] = deque()
        self.demand: Counter[str] = Counter()  # jobs submitted per routing key
        self.names = ModelNames(registry)  # which model a client means (names.py)
        self.preferences = Preferences(db, registry, self.names)  # preferences.py
        self.placement = Placement(registry, settings.prefix_routing)  # where jobs run

    # -- reading -------------------------------------------------------------------------

    def live(self, job_id: str) -> LiveJob | None:
        return self._live.get(job_id)

    def unfinished(self) -> list[LiveJob]:
        return [j for j in self._live.values() if j.finished_at is None]

    def queue_position(self, job_id: str) -> int | None:
        return self._waiting.index(job_id) + 1 if job_id in self._waiting else None

    async def open_stream(self, record: JobRecord, after: int = 0) -> Entries:
        """The job's stream entries after event `after`, wherever the job is (reading.py)."""
        return await self._streams.open(record, after)

    def stats(self) -> dict[str, Any]:
        running = sum(1 for j in self._live.values() if j.finished_at is None and j.node_id)
        return {"waiting": len(self._waiting), "running": running}

    # -- submit and dispatch -------------------------------------------------------------

    async def submit(self, account_id: str, request: JobCreate) -> LiveJob:
        choice = await self.preferences.choose(request)  # the model, and nodes allowed
        key, request = choice.key, choice.applied(request)
        await admission.check_admissible(self._db, self._registry, request, key)
        need = self.context.admit(key, request)  # refuses a prompt no node can hold
        if len(self._waiting) >= self._settings.max_waiting_jobs:
            raise NoCapacity(
                "Too many jobs are waiting for a node; retry shortly.", headers={"Retry-After": "5"}
            )
        job = LiveJob(new_id("job"), account_id, key, request, time.monotonic(), need=need)
        self.placement.admit(job, choice.allowed, choice.order)
        job.stream = self.cluster.new_stream(job.id)
        await self._accounting.reserve(account_id, job.id, request, key)
        self.demand[key] += 1
        lease = lease_expiry(self._settings.lease_ttl_s)
        created = self._rows.create(job.new_record(self.cluster.bus.replica_id, lease))
        job.stream.await_row(created)  # its node may start it before this commit: they overlap
        self._live[job.id] = job
        self._waiting.append(job.id)
        self._events.submitted(job)
        await self.dispatch_waiting()
        await self._stored(job, created)
        return job

    async def _stored(self, job: LiveJob, created: asyncio.Future[int]) -> None:
        """Wait for its row. A job not stored never was: its node stops, the client is told."""
        try:
            await created
        except Exception:  # the database's error goes to the client; no row to write
            if job.node_id and (node := self._registry.get(job.node_id)):
                await cancel_on_node(job.id, node, job.attempt)
            await self._close(job, job.node_id)
            await job.stream.fail("internal_error", "The job could not be stored.")
            self.forget(job.id)
            await self._accounting.release(job.account_id, job.id)
            raise

    async def dispatch_waiting(self) -> None:
        """Start every waiting job that some node can take now, oldest first."""
        for job_id in list(self._waiting):
            job = self._live.get(job_id)
            if job_id not in self._waiting:
                continue  # started meanwhile by a concurrent pass
            if job is None or job.finished_at is not None:
                self._waiting.remove(job_id)
                continue
            node = self.placement.place(job)
            if node is not None:
                self._waiting.remove(job_id)
                job.routing = self.placement.chosen(job, node)
                await self._start(job, node)
                self.placement.explain(job, node)

    async def _start(self, job: LiveJob, node: NodeState) -> None:
        if not await self.cluster.reserve(node, job.id):  # another replica took the slot
            self._waiting.appendleft(job.id)
            return
        job.attempt += 1
        job.node_id, job.started = node.node_id, time.monotonic()
        job.last_progress, job.attempt_start_piece = job.started, len(job.stream.pieces)
        self._events.started(job)
        assignment = job.assignment(node.served[job.key])
        job.bound, job.attempt_chars = AttemptBound.of(assignment), 0
        quote = await self._accounting.quote(job.id, job.account_id, node.node_id, job.key)
        if quote is not None:  # the node prices and signs its receipt from these
            assignment = assignment.model_copy(update=quote.assignment_fields())
        ids = {"job_id": job.id, "node_id": node.node_id, "attempt": job.attempt}
        log.info("job dispatched", extra=ids)
        try:
            assert node.channel is not None
            await node.channel.send(assignment)  # first: the row write is off the TTFT path
        except Exception:
            log.exception("sending job to node failed", extra={"job_id": job.id})
            await self._failover.take_back(job, node, "send_failed")
            return
        if job.finished_at is not None or job.node_id != node.node_id:
            return  # the node already finished (or lost) it while we were sending
        self._rows.started(job.id, node.node_id, job.attempt, job.routing)  # at its 1st token

    # -- what nodes say ------------------------------------------------------------------

    async def receive(self, node_id: str, message: NodeMessage) -> None:
        """A node's message from its channel to this replica: handled here, or sent to
        the replica that owns the job (cluster.py)."""
        if not await self.cluster.forward(node_id, message):
            await self.apply(node_id, message)

    async def apply(self, node_id: str, message: NodeMessage) -> None:
        """A node's message for a job this replica owns."""
        if isinstance(message, JobToken | JobTokens):
            if job := self._current(node_id, message.job_id, message.attempt):
                await self._relay(job, node_id, message.texts)
        elif isinstance(message, JobDone):
            await self._done(node_id, message)
        else:
            await self._failed(node_id, message)

    def _current(self, node_id: str, job_id: str, attempt: int) -> LiveJob | None:
        job = self._live.get(job_id)
        if job is None or job.finished_at is not None or job.bound is None:
            return None
        if job.node_id != node_id or job.attempt != attempt:
            return None
        job.last_progress = time.monotonic()
        return job

    async def _relay(self, job: LiveJob, node_id: str, texts: list[str]) -> None:
        """Token frames, relayed as far as the attempt's bounds allow (claims.py); a
        stream past them is cut there and the job completed with what was relayed."""
        assert job.bound is not None  # _current: only dispatched attempts are current
        pieces, over = claims.admit_all(texts, job.attempt_frames, job.attempt_chars, job.bound)
        if pieces:
            if not job.attempt_chars and (node := self._registry.get(node_id)):
                node.record_ttft(time.monotonic() - (job.started or job.submitted))
            job.attempt_chars += sum(map(len, pieces))
            await job.stream.push(*pieces)
            self._rows.first_token(job.id)
        if over is None:
            return
        await self._offences.record(node_id, over)
        if node := self._registry.get(node_id):
            await cancel_on_node(job.id, node, job.attempt)
        frames = job.attempt_frames
        job.segments.append(Segment(node_id, job.attempt, 0, frames, "stream_count"))
        job.finish_reason = "length"
        await self._finish(job, node_id)

    async def _done(self, node_id: str, message: JobDone) -> None:
        """Complete the job on the node's report, its usage believed up to what the
        control plane can check (claims.py); its provenance (provenance.py) is checked
        first and stored in the same write."""
        job = self._current(node_id, message.job_id, message.attempt)
        if job is None or job.bound is None:
            return
        provenance = None
        if self._provenance is not None:
            provenance = await self._provenance.record(job, node_id, message)
        segment, excess = claims.final_segment(node_id, message, job.bound)
        if excess is not None:
            await self._offences.record(node_id, excess)
        job.segments.append(segment)
        job.finish_reason = claims.finish_reason(message.finish_reason)
        self.context.completed(job, segment.prompt_tokens)
        await self._finish(job, node_id, provenance)

    async def _finish(
        self, job: LiveJob, node_id: str, provenance: dict[str, object] | None = None
    ) -> None:
        """Complete `job` (once) with what its segments say, settle it, end its stream."""
        done = job.completion(node_id, provenance)
        stored = await self._rows.complete(job.id, done)
        if (node := self._registry.get(node_id)) and job.started is not None:
            node.record_job(time.monotonic() - job.started, job.segments[-1].completion_tokens)
        await self._close(job, node_id)
        if stored:
            await self._accounting.settle(
                FinishedJob(job.id, job.account_id, job.request.model, job.key, job.segments)
            )
            self._events.completed(job)
            await job.stream.finish()
            self._retire(job)

    async def finish_relayed(self, job: LiveJob) -> None:
        """Complete `job` with what its nodes already streamed (its segments)."""
        await self._finish(job, job.node_id or job.segments[-1].node_id)

    async def _failed(self, node_id: str, message: JobFailed) -> None:
        job = self._current(node_id, message.job_id, message.attempt)
        if job is None:
            return
        node = self._registry.get(node_id)
        if message.error == CONTEXT_LENGTH_EXCEEDED:  # the request's fault, not the node's
            return await self.context.refused(job, node, message)
        if message.error == claims.MALFORMED and node is not None:
            await self._offences.record(node_id, message.message)
            await self._failover.take_back(job, node, claims.MALFORMED)
            await self.dispatch_waiting()
            return
        if message.error == "backend_unavailable" and node is not None:
            elsewhere = self.placement.place(job) is not None
            await self._failover.engine_down(job, node, message.message, elsewhere=elsewhere)
            await self.dispatch_waiting()
            return
        await self.fail(job, *claims.node_failure(message))

    # -- nodes coming and going ----------------------------------------------------------

    async def heartbeat(self, node: NodeState, beat: Heartbeat) -> None:
        """A heartbeat was applied here: other replicas apply it too; a node may be free."""
        await self.cluster.heartbeat(node, beat)
        await self.dispatch_waiting()

    async def channel_opened(self, node_id: str) -> None:
        await self.cluster.channel_opened(node_id)
        await self.dispatch_waiting()

    async def still_running(self, node_id: str, running: list[RunningAttempt]) -> None:
        """The node's hello named the attempts it runs: stop those not counted on here."""
        await self._failover.still_running(node_id, running)

    async def channel_closed(self, node_id: str) -> None:
        await self.cluster.channel_closed(node_id)
        await self.node_lost(node_id)

    async def node_lost(self, node_id: str, only: set[str] | None = None) -> None:
        """The node's channel closed: its jobs (of `only`, when given) go elsewhere."""
        await self._failover.node_lost(node_id, only)
        await self.dispatch_waiting()

    async def undeliverable(self, node_id: str, job_id: str, attempt: int) -> None:
        job, node = self._current(node_id, job_id, attempt), self._registry.get(node_id)
        if job is not None and node is not None:
            await self._failover.take_back(job, node, "send_failed")
            await self.dispatch_waiting()

    # -- moves of the lifecycle (owner.py) -----------------------------------------------

    async def fail(self, job: LiveJob, code: str, text: str) -> None:
        """Finish `job` as failed (once), release its reservation and end its stream."""
        stored = await self._rows.fail(job.id, code, text)
        await self._close(job, job.node_id)
        if stored:
            self._events.failed(job, code)
            await self._accounting.release(job.account_id, job.id)
        await job.stream.fail(code, text)
        self._retire(job)
        log.info("job failed", extra={"job_id": job.id, "error": code})

    async def requeue(self, job: LiveJob) -> None:
        job.node_id = None
        segments = [vars(s) for s in job.segments]  # what a replica taking over needs
        await self._rows.requeue(job.id, segments)
        self._waiting.appendleft(job.id)

    async def adopt(self, job: LiveJob) -> None:
        self.placement.admit(job, *await self.preferences.restriction(job.request, job.key))
        self._live[job.id] = job
        newer = takewhile(  # looked for from the end: at start, adopted jobs are appended
            lambda other: self._live.get(other, job).submitted > job.submitted,
            reversed(self._waiting),
        )
        self._waiting.insert(len(self._waiting) - len(list(newer)), job.id)  # in order

    def forget(self, job_id: str) -> None:
        self._live.pop(job_id, None)
        self._rows.forget(job_id)
        if job_id in self._waiting:
            self._waiting.remove(job_id)

    def _retire(self, job: LiveJob) -> None:
        """A finished job leaves memory at once (readers hold their own reference); what
        an exact Last-Event-ID replay needs stays in `archive` for a while."""
        self.archive.keep(job.id, job.stream)
        self.forget(job.id)

    async def _close(self, job: LiveJob, node_id: str | None) -> None:
        job.finished_at = time.monotonic()
        if node_id:
            if node := self._registry.get(node_id):
                node.active_jobs.discard(job.id)
            await self.cluster.release(node_id, job.id)
        await self.dispatch_waiting()

    async def recover(self) -> int:
        """At start: adopt and queue the unfinished jobs left (takeover.py); how many."""
        recovered = await self._takeover.recover(self._settings.lease_ttl_s)
        await self.dispatch_waiting()
        return recovered

    async def sweep(self) -> None:
        """Fail overdue jobs, take back stalled ones, forget finished ones after a while;
        with several replicas, first renew our leases and adopt jobs whose lease ran out."""
        if self.cluster.shared:
            await self._takeover.tend(self._settings.lease_ttl_s)
        await self._failover.sweep(list(self._live.values()))
        await self.dispatch_waiting()

    async def resync_streams(self) -> None:
        for job in list(self._live.values()):
            await job.stream.resync()
