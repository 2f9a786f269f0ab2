"""The job rows' writes, each job's in its order, all jobs' sharing commits.

Every write goes through one `GroupCommit` (store/group_commit.py), first come first
committed, so a job's later move never overtakes an earlier one. Which node runs an
attempt (`processing`) is written after the attempt's first token, not when it is sent:
its commit would otherwise come before the crash journal's commit of that first token
(journal.py), which a client waits for. A move of the job that comes first (done without
a token, failed, taken back) writes it first. A new job's own row is queued, not waited
for, before it is sent (manager.submit): its commit overlaps the node's work, and every
later write of the job queues behind it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.store.group_commit import GroupCommit
from infernet.controlplane.store.jobs import Completion, JobRecord


class JobRows:
    def __init__(self, db: AsyncEngine) -> None:
        self.db = db
        self._writes = GroupCommit(db)
        # job id -> (node, attempt, why the node was chosen)
        self._unwritten: dict[str, tuple[str, int, dict[str, Any] | None]] = {}

    def create(self, record: JobRecord) -> asyncio.Future[int]:
        """Queue the new job's row: committed before any later write of the job."""
        return job_store.create(self._writes, record)

    def started(
        self, job_id: str, node_id: str, attempt: int, routing: dict[str, Any] | None = None
    ) -> None:
        """The attempt was sent to `node_id`: written at its first token or next move."""
        self._unwritten[job_id] = (node_id, attempt, routing)

    def first_token(self, job_id: str) -> None:
        if (start := self._unwritten.pop(job_id, None)) is not None:
            job_store.mark_processing(self._writes, job_id, *start)  # queued, not awaited

    def forget(self, job_id: str) -> None:
        """The job is run by another replica now: its writes are that one's."""
        self._unwritten.pop(job_id, None)

    async def complete(self, job_id: str, done: Completion) -> bool:
        self.first_token(job_id)
        return await job_store.complete(self._writes, job_id, done)

    async def fail(self, job_id: str, code: str, message: str) -> bool:
        self.first_token(job_id)
        return await job_store.fail(self._writes, job_id, code, message)

    async def requeue(self, job_id: str, segments: list[dict[str, Any]] | None = None) -> bool:
        self.first_token(job_id)
        return await job_store.requeue(self._writes, job_id, segments)
