"""Verification as a running service: which finished jobs get spot-checked, the check
itself, and what a verdict changes (the record, the reputation, routing, earnings).

`Verifications.completed` is called for every finished job (through `VerifyingEvents`,
the job manager's event hook): a job answered in one piece by one node, in plain text,
for a model the platform runs a verifier for (`Settings.verifier_urls`), is checked
when the budget draws it (budget.py). The check runs in the background, after the
client has its answer. Hidden checks (watchers/hidden_checks.py) are always checked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.jobs.events import JobEvents
from infernet.controlplane.jobs.live import LiveJob
from infernet.controlplane.money.ledger import Ledger
from infernet.controlplane.money.withholding import withhold
from infernet.controlplane.nodes.offences import Offences
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.store import verifications as store
from infernet.controlplane.verification.budget import Budget
from infernet.controlplane.verification.engine import Scorer, VerifierUnavailable
from infernet.controlplane.verification.reputation import WINDOW, Reputation
from infernet.controlplane.verification.scoring import Usage
from infernet.controlplane.verification.spotcheck import Answer, SpotCheck, Verdict

log = logging.getLogger("infernet.verification")


def answer_of(job: LiveJob) -> Answer | None:
    """What one node delivered for `job`; None when it cannot be checked (several
    nodes' segments, a confidential prompt the platform cannot read)."""
    if len(job.segments) != 1 or job.request.encrypted is not None:
        return None
    segment, request = job.segments[0], job.request
    return Answer(
        job.id,
        segment.node_id,
        [{"role": m.role, "content": m.content} for m in request.messages],
        request.temperature,
        request.top_p,
        request.max_tokens,
        list(request.stop),
        job.delivered,
        job.finish_reason,
        Usage(segment.prompt_tokens, segment.completion_tokens),
    )


@dataclass
class Verifications:
    db: AsyncEngine
    registry: NodeRegistry
    offences: Offences
    scorers: Mapping[str, Scorer]  # routing key -> the platform's engine for that model
    budget: Budget
    ledger: Ledger | None = None  # None: payments off, nothing to withhold
    owner_of: Callable[[str], Awaitable[str]] | None = None
    hidden_accounts: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def completed(self, job: LiveJob) -> None:
        if job.account_id in self.hidden_accounts or job.key not in self.scorers:
            return
        answer = answer_of(job)
        if answer is not None and self.budget.served_job(answer.cost):
            task = asyncio.create_task(self._background(answer, job.key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _background(self, answer: Answer, key: str) -> None:
        try:
            await self.verify(answer, key, "spot")
        except Exception:
            log.exception("spot-check failed to run", extra={"job_id": answer.job_id})

    async def verify(self, answer: Answer, key: str, kind: str) -> Verdict | None:
        """Check `answer` and act on the verdict; None when the verifier was unreachable."""
        try:
            verdict = await SpotCheck(self.scorers[key]).check(answer)
        except VerifierUnavailable as exc:
            log.warning("verifier unavailable", extra={"model": key, "why": str(exc)})
            return None
        self.budget.spend(verdict.cost, answer.cost)
        row = store.Check(
            answer.node_id,
            answer.job_id,
            kind,
            key,
            verdict.passed,
            verdict.checks,
            verdict.detail,
            verdict.positions,
            verdict.cost,
        )
        row_id = await store.record(self.db, row)
        await self.apply(answer, row_id, verdict)
        return verdict

    async def apply(self, answer: Answer, row_id: str, verdict: Verdict) -> Reputation:
        """The node's reputation after this verdict, acted on."""
        reputation = Reputation.of(await store.recent(self.db, answer.node_id, WINDOW))
        if (node := self.registry.get(answer.node_id)) is not None:
            node.integrity_penalty_s = reputation.penalty_s
        if verdict.passed:
            return reputation
        log.warning(
            f"verification failed: {verdict.checks}",
            extra={"node_id": answer.node_id, "job_id": answer.job_id, "why": verdict.detail},
        )
        if reputation.offence:
            await self.offences.record(answer.node_id, f"failed verification: {verdict.checks}")
        if self.ledger is not None and self.owner_of is not None:
            owner = await self.owner_of(answer.node_id)
            amount = await withhold(self.ledger, answer.job_id, owner, verdict.checks)
            if amount > 0:
                await store.set_withheld(self.db, row_id, format(amount, "f"))
        return reputation

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for scorer in self.scorers.values():
            await scorer.close()


class VerifyingEvents:
    """The job manager's event hook: `inner`'s, plus each finished job offered to
    `verifications`."""

    def __init__(self, inner: JobEvents, verifications: Verifications) -> None:
        self.inner, self.verifications = inner, verifications

    def submitted(self, job: LiveJob) -> None:
        self.inner.submitted(job)

    def started(self, job: LiveJob) -> None:
        self.inner.started(job)

    def completed(self, job: LiveJob) -> None:
        self.inner.completed(job)
        self.verifications.completed(job)

    def failed(self, job: LiveJob, code: str) -> None:
        self.inner.failed(job, code)
