"""Prompts too long for their model: refused before anything is held, or by the engine.

Before routing, the control plane knows only bounds on the prompt's tokens
(protocol/tokens.py); engines count exactly. So a prompt meets three checks:

1. Admission (`admit`), before routing and before any hold: when every online node
   serving the model reports its context and the prompt's lower bound plus one token of
   answer exceeds the largest, the job is refused with 400 `context_length_exceeded`,
   naming the bound and that context. Anything less certain goes on, and the router
   prefers nodes sure to hold it (jobs/fit.py).
2. The node's engine counts the prompt and refuses it if it does not fit (node/
   executor.py: JobFailed `context_length_exceeded` with the engine's count). That is the
   request's fault: the node is neither marked unhealthy nor penalized, and the hold is
   released, never charged. If an online node serving the model has room for the
   counted prompt the job runs there (`refused`), else it fails with that 400, naming
   the engine's count and the largest context. A count above what the prompt can hold
   (the upper bound) is no refusal but a false claim: an offence (nodes/offences.py),
   and the job goes elsewhere.
3. Calibration (`completed`): the engine's count of every completed job is checked
   against the lower bound; for a model whose tokenizer breaks it (tokens spanning
   whitespace), prompts are from then on neither refused nor filtered before an engine
   counted them.

A `max_tokens` beyond the room the prompt leaves is clamped by the node, not refused:
the answer then ends with finish_reason "length".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from infernet.controlplane.errors import ContextLengthExceeded
from infernet.controlplane.jobs.failover import Failover
from infernet.controlplane.jobs.fit import ContextNeed
from infernet.controlplane.jobs.live import LiveJob
from infernet.controlplane.jobs.owner import JobOwner
from infernet.controlplane.nodes.offences import Offences
from infernet.controlplane.nodes.registry import NodeRegistry, NodeState
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.settings import Settings
from infernet.protocol.tokens import PromptBounds, prompt_bounds
from infernet.protocol.wire import CONTEXT_LENGTH_EXCEEDED, JobFailed

log = logging.getLogger("infernet.jobs")
BOTH = "prompt and answer together"


class ContextGuard:
    def __init__(
        self,
        registry: NodeRegistry,
        owner: JobOwner,
        failover: Failover,
        offences: Offences,
        settings: Settings,
    ) -> None:
        self._registry, self._owner, self._failover = registry, owner, failover
        self._offences, self._max_attempts = offences, settings.max_attempts
        self.unsound: set[str] = set()  # routing keys whose tokenizer broke the lower bound

    def admit(self, key: str, request: JobCreate) -> ContextNeed | None:
        """The job's need (None: a confidential prompt only its node can read); raises
        ContextLengthExceeded when no online node serving `key` can hold the prompt."""
        if request.encrypted is not None:
            return None
        bounds = prompt_bounds(request.messages)
        if key in self.unsound:
            bounds = PromptBounds(0, bounds.upper)
        need = ContextNeed(bounds, request.max_tokens)
        largest = _largest_if_all_below(self._nodes(key, request.node_id), key, need.least)
        if largest is not None:
            raise ContextLengthExceeded(
                f"The prompt takes at least {bounds.lower} tokens (one per word: counted "
                f"without the model's tokenizer), and the largest context of a node serving "
                f"'{request.model}' is {largest} tokens, {BOTH}. Shorten the prompt."
            )
        return need

    def _nodes(self, key: str, pinned: str | None) -> Iterator[NodeState]:
        nodes = self._registry.online_iter(key)
        return (n for n in nodes if n.node_id == pinned) if pinned else nodes

    async def refused(self, job: LiveJob, node: NodeState | None, message: JobFailed) -> None:
        """A node's engine counted the prompt and found it too long: run the job on an
        online node with room for it, else fail it with the 400 (see module docs)."""
        counted, key = message.prompt_tokens, job.key
        if node is not None and counted is not None and counted > _most(job):
            await self._offences.record(
                node.node_id, f"claimed a {counted}-token prompt, more than it can hold"
            )
            await self._failover.take_back(job, node, "false context refusal")
            await self._owner.dispatch_waiting()
            return
        if counted is not None:
            job.need = ContextNeed(PromptBounds.exact(counted), job.request.max_tokens)
        mine = message.context_length or (node.contexts.get(key) if node else None)
        others = [
            n
            for n in self._nodes(key, job.request.node_id)
            if n is not node and n.node_id not in job.excluded
        ]
        roomier = [n for n in others if _may_hold(n.contexts.get(key), counted, mine)]
        if node is not None and roomier and job.attempt < self._max_attempts:
            await self._failover.take_back(job, node, CONTEXT_LENGTH_EXCEEDED)
            await self._owner.dispatch_waiting()
            return
        sizes = [c for c in (mine, largest_context(others, key)) if c]
        largest = max(sizes) if sizes else None
        await self._owner.fail(job, CONTEXT_LENGTH_EXCEEDED, _too_long(job, counted, largest))

    def completed(self, job: LiveJob, prompt_tokens: int) -> None:
        """Check the lower bound against the engine's count of a job's own messages."""
        need = job.need
        if need is None or need.prompt.is_exact or job.attempt_start_piece:
            return
        if prompt_tokens < need.prompt.lower and job.key not in self.unsound:
            self.unsound.add(job.key)
            log.warning(
                "the engine counted fewer prompt tokens than words: no longer refusing "
                "prompts for this model before an engine counted them",
                extra={"job_id": job.id, "model": job.key, "counted": prompt_tokens},
            )


def largest_context(nodes: Iterable[NodeState], key: str) -> int | None:
    """The largest context `nodes` report for `key`; None when there are none, or one
    does not say (it might be larger)."""
    contexts = [n.contexts.get(key) for n in nodes]
    if not contexts or any(c is None for c in contexts):
        return None
    return max(c for c in contexts if c is not None)


def _largest_if_all_below(nodes: Iterable[NodeState], key: str, least: int) -> int | None:
    """The largest context of `nodes` for `key` when every one reports a context below
    `least`; else None, found at the first node that may hold it (a submit looks at one
    node, not at every node of a popular model)."""
    largest = None
    for node in nodes:
        context = node.contexts.get(key)
        if context is None or context >= least:
            return None
        largest = max(largest or 0, context)
    return largest


def _most(job: LiveJob) -> int:
    """The most tokens the messages this attempt's node got can take (a confidential
    prompt: no bound here)."""
    if job.request.encrypted is not None:
        return 2**62
    return prompt_bounds(job.continuation_messages()).upper


def _may_hold(context: int | None, counted: int | None, refused_at: int | None) -> bool:
    if context is None:
        return True  # it does not say: its engine will
    if counted is not None:
        return context > counted
    return refused_at is not None and context > refused_at


def _too_long(job: LiveJob, counted: int | None, largest: int | None) -> str:
    model = job.request.model
    prompt = f"The prompt is {counted} tokens (the engine's count)" if counted else "The prompt"
    context = f"{largest} tokens, {BOTH}" if largest else "smaller than it needs"
    return (
        f"{prompt} and does not fit: the largest context of a node serving '{model}' is "
        f"{context}. Shorten the prompt."
    )
