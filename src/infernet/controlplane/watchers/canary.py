"""Model integrity canaries: catch a node whose model is swapped or broken.

Every `canary_interval_s` (0, the default, turns it off) the control plane sends the same
small prompt (temperature 0, fixed seed, few tokens) to every routable node serving a
model, as internal jobs pinned to each node under the system account `SYSTEM_ACCOUNT`
(never billed: `ExemptAccounting` skips it). It compares the answers: when a strict
majority of the nodes that answered agree, every node that answered differently is
*flagged* and gets `NodeState.integrity_penalty_s`, which the router adds to its predicted
wait, so it gets jobs only when no agreeing node can take them; a flagged node that agrees
with the majority in a later round is cleared. Without a strict majority (two nodes that
disagree, a three-way split) nothing changes: a canary never guesses which node is right.

Greedy decoding with a fixed seed makes one model give one answer on one engine; different
engines or quantizations of the same model can still differ in a token. A divergence is a
signal to look (it is logged with both answers), which is why the penalty lowers the
node's score instead of removing it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from infernet.controlplane.errors import ApiError
from infernet.controlplane.jobs.streams import StreamError
from infernet.controlplane.money.accounting import Accounting, FinishedJob, Quote
from infernet.controlplane.nodes.registry import NodeState
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.services import Services
from infernet.controlplane.store.accounts import ensure_account
from infernet.protocol.wire import ChatMessageIn

log = logging.getLogger("infernet.canary")
SYSTEM_ACCOUNT = "acct_system"
CANARY_PROMPT = "Complete the sequence with the next three numbers only: 2, 4, 8, 16,"


@dataclass(frozen=True)
class CanaryConfig:
    interval_s: float = 0.0  # 0: off
    prompt: str = CANARY_PROMPT
    max_tokens: int = 16
    seed: int = 1234
    penalty_s: float = 600.0
    answer_timeout_s: float = 120.0


@dataclass(frozen=True)
class Verdict:
    majority: str | None  # the agreed answer; None when no strict majority
    flagged: frozenset[str] = field(default_factory=frozenset)
    agreeing: frozenset[str] = field(default_factory=frozenset)


def judge(answers: Mapping[str, str | None]) -> Verdict:
    """Pure: node id -> answer (None: no answer). Flag the answers outside a strict majority."""
    given = {node: " ".join(text.split()) for node, text in answers.items() if text is not None}
    if len(given) < 2:
        return Verdict(None)
    top, count = Counter(given.values()).most_common(1)[0]
    if count * 2 <= len(given):
        return Verdict(None)
    agreeing = frozenset(n for n, text in given.items() if text == top)
    return Verdict(top, frozenset(given) - agreeing, agreeing)


class ExemptAccounting:
    """An `Accounting` that leaves the system account's (canary) jobs alone."""

    def __init__(self, inner: Accounting, exempt: frozenset[str] = frozenset({SYSTEM_ACCOUNT})):
        self._inner, self._exempt = inner, exempt

    async def reserve(
        self, account_id: str, job_id: str, request: JobCreate, routing_key: str
    ) -> None:
        if account_id not in self._exempt:
            await self._inner.reserve(account_id, job_id, request, routing_key)

    async def quote(
        self, job_id: str, account_id: str, node_id: str, routing_key: str
    ) -> Quote | None:
        if account_id in self._exempt:
            return None
        return await self._inner.quote(job_id, account_id, node_id, routing_key)

    async def settle(self, job: FinishedJob) -> None:
        if job.account_id not in self._exempt:
            await self._inner.settle(job)

    async def release(self, account_id: str, job_id: str) -> None:
        if account_id not in self._exempt:
            await self._inner.release(account_id, job_id)


def _routable(node: NodeState) -> bool:
    return (
        node.channel is not None
        and node.backend_healthy
        and not node.draining
        and node.approved
        and not node.revoked
    )


class Canary:
    def __init__(self, services: Services, config: CanaryConfig) -> None:
        self.services, self.config = services, config
        self._task: asyncio.Task[None] | None = None

    async def ask(self, key: str, node: NodeState) -> str | None:
        """The node's answer to the canary prompt, or None if it gave none in time."""
        request = JobCreate(
            model=node.served[key],
            messages=[ChatMessageIn(role="user", content=self.config.prompt)],
            max_tokens=self.config.max_tokens,
            temperature=0.0,
            seed=self.config.seed,
            node_id=node.node_id,
        )
        try:
            job = await self.services.jobs.submit(SYSTEM_ACCOUNT, request)
            async with asyncio.timeout(self.config.answer_timeout_s):
                async for _ in job.stream.follow():
                    pass
        except (ApiError, StreamError, TimeoutError) as exc:
            log.info("canary got no answer", extra={"node_id": node.node_id, "why": repr(exc)})
            return None
        return job.stream.text

    async def check_model(self, key: str, nodes: list[NodeState]) -> Verdict:
        answers = await asyncio.gather(*(self.ask(key, node) for node in nodes))
        verdict = judge({n.node_id: a for n, a in zip(nodes, answers, strict=True)})
        for node, answer in zip(nodes, answers, strict=True):
            if node.node_id in verdict.flagged:
                node.integrity_penalty_s = self.config.penalty_s
                log.warning(
                    "canary answer diverges from the majority",
                    extra={
                        "node_id": node.node_id,
                        "model": key,
                        "answer": repr(answer),
                        "majority": repr(verdict.majority),
                    },
                )
            elif node.node_id in verdict.agreeing and node.integrity_penalty_s:
                node.integrity_penalty_s = 0.0
                log.info("canary passed again", extra={"node_id": node.node_id, "model": key})
        return verdict

    async def run_once(self) -> dict[str, Verdict]:
        """One round over every model served by two or more routable nodes."""
        await ensure_account(self.services.db, SYSTEM_ACCOUNT, "system (integrity canaries)")
        verdicts: dict[str, Verdict] = {}
        for key, nodes in self.services.registry.online_models().items():
            usable = [n for n in nodes if _routable(n)]
            if len(usable) >= 2:
                verdicts[key] = await self.check_model(key, usable)
        return verdicts

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.interval_s)
            try:
                await self.run_once()
            except Exception:
                log.exception("canary round failed")

    def start(self) -> None:
        if self.config.interval_s > 0:
            self._task = asyncio.create_task(self._loop(), name="integrity-canary")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
