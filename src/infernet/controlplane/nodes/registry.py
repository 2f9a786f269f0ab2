"""Live state of every node: what it serves, how loaded it is, whether it is reachable.

Hot state lives here, in memory, indexed by model routing key so that routing looks at
only the nodes that serve the requested model. The database keeps identity and slowly
changing facts; heartbeat times are flushed to it in batches.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from infernet.protocol.delegation import ModelKeyStatement
from infernet.protocol.modelnames import routing_key
from infernet.protocol.tiers import Tier
from infernet.protocol.wire import Heartbeat, JobAssignment, JobCancel


class NodeChannel(Protocol):
    """The open job channel to one node."""

    async def send(self, message: JobAssignment | JobCancel) -> None: ...


class ChannelElsewhere:
    """Base of a node's job channel that another replica holds (jobs/cluster.py): what
    goes down it, and every message that comes back, crosses the bus."""


@dataclass
class NodeState:
    node_id: str
    public_key: str
    served: dict[str, str] = field(default_factory=dict)  # routing key -> name on the node
    hot: set[str] = field(default_factory=set)  # routing keys resident in memory
    contexts: dict[str, int] = field(default_factory=dict)  # routing key -> context tokens
    backend: str = ""
    backend_healthy: bool = False
    backend_detail: str = ""
    version: str = ""
    vram_tier: Tier = "cpu"
    max_concurrent: int = 1
    last_seen: float = 0.0  # monotonic seconds
    channel: NodeChannel | None = None
    active_jobs: set[str] = field(default_factory=set)
    # Trust (api/node.py keeps these in step with the nodes table): routed only when both hold.
    approved: bool = True
    revoked: bool = False
    # Measured from this node's completed jobs (exponential moving averages).
    avg_job_s: float = 1.0
    tokens_per_s: float = 0.0
    jobs_done: int = 0
    ttft_s: float = 0.0  # dispatch to first token; 0: not measured yet
    cache_routed: int = 0  # jobs sent here for what its cache probably held
    tokens_done: int = 0  # completion tokens of the jobs it finished
    earned: Decimal = Decimal(0)  # its owner's part of those jobs (money/billing.py)
    # Why this node was passed over, by reason, since the control plane started.
    passed_over: dict[str, int] = field(default_factory=dict)
    # Operations: a draining node takes no new jobs; a node that failed verifications
    # (controlplane/verification/reputation.py) waits this many extra seconds in the
    # router's prediction.
    draining: bool = False
    integrity_penalty_s: float = 0.0
    # Claims caught above what the control plane can check (nodes/offences.py).
    offences: int = 0
    # Routing key -> the node-signed statement of that model's key (confidential jobs).
    model_keys: dict[str, ModelKeyStatement] = field(default_factory=dict)

    def record_job(self, seconds: float, completion_tokens: int, alpha: float = 0.2) -> None:
        rate = completion_tokens / seconds if seconds > 0 else 0.0
        if self.jobs_done == 0:
            self.avg_job_s, self.tokens_per_s = seconds, rate
        else:
            self.avg_job_s += alpha * (seconds - self.avg_job_s)
            self.tokens_per_s += alpha * (rate - self.tokens_per_s)
        self.jobs_done += 1
        self.tokens_done += completion_tokens

    def record_ttft(self, seconds: float, alpha: float = 0.2) -> None:
        """Seconds from sending a job to its first token (an exponential moving average)."""
        self.ttft_s = seconds if self.ttft_s == 0 else self.ttft_s + alpha * (seconds - self.ttft_s)

    def online(self, now: float, offline_after_s: float) -> bool:
        return self.last_seen > 0 and now - self.last_seen <= offline_after_s

    def status(self, now: float, offline_after_s: float) -> str:
        if not self.online(now, offline_after_s):
            return "offline"
        if not self.backend_healthy or self.channel is None:
            return "degraded"
        return "online"

    @property
    def channel_here(self) -> bool:
        """The node's job channel is open on this process, not held by another replica."""
        return self.channel is not None and not isinstance(self.channel, ChannelElsewhere)

    @property
    def free_slots(self) -> int:
        return self.max_concurrent - len(self.active_jobs)


class NodeRegistry:
    def __init__(self, offline_after_s: float) -> None:
        self.offline_after_s = offline_after_s
        self._nodes: dict[str, NodeState] = {}
        self._by_model: dict[str, set[str]] = defaultdict(set)
        self._serving_cache: dict[str, list[NodeState]] = {}
        self._unflushed: dict[str, float] = {}
        self._by_key: dict[str, str] = {}
        # Nodes online when the control plane last stopped: routing key -> node ids, and
        # until when (monotonic) each is expected back (see `expect`).
        self._expected: dict[str, tuple[set[str], float]] = {}

    def get(self, node_id: str) -> NodeState | None:
        return self._nodes.get(node_id)

    def all(self) -> list[NodeState]:
        return list(self._nodes.values())

    def node_for_key(self, public_key: str) -> str | None:
        return self._by_key.get(public_key)

    def ensure(self, node_id: str, public_key: str) -> NodeState:
        state = self._nodes.get(node_id)
        if state is None:
            state = self._nodes[node_id] = NodeState(node_id, public_key)
            self._by_key[public_key] = node_id
        return state

    def apply_heartbeat(
        self, state: NodeState, beat: Heartbeat, seen_at: float | None = None
    ) -> bool:
        """Record a heartbeat; return True when the set of served models changed.
        `seen_at` (wall clock) marks a beat another replica received: it dates the node's
        last beat as that replica saw it, and that replica flushes it to the database."""
        if beat.backend_healthy or beat.served_models:
            changed = self._serve(state, beat)
        else:  # its engine is down, so it cannot list its models: they come back with it
            changed, state.hot = False, set()
        state.backend = beat.backend
        state.backend_healthy = beat.backend_healthy
        state.backend_detail = beat.backend_detail
        state.version = beat.version
        state.vram_tier = beat.vram_tier
        state.max_concurrent = max(1, beat.load.max_concurrent_jobs)
        state.draining = beat.draining
        if seen_at is None:
            state.last_seen = time.monotonic()
            self._unflushed[state.node_id] = time.time()
        else:
            age = max(0.0, time.time() - seen_at)
            state.last_seen = max(state.last_seen, time.monotonic() - age)
        return changed

    def _serve(self, state: NodeState, beat: Heartbeat) -> bool:
        """Record the models `beat` lists; True when the set changed."""
        keyed = [(routing_key(m.name), m) for m in beat.served_models]  # parsed once per beat
        served = {key: m.name for key, m in keyed}
        changed = served != state.served
        for key in state.served.keys() - served.keys():
            self._by_model[key].discard(state.node_id)
            self._serving_cache.pop(key, None)
        for key in served.keys() - state.served.keys():
            self._by_model[key].add(state.node_id)
            self._serving_cache.pop(key, None)
        state.served = served
        state.hot = {key for key, m in keyed if m.loaded}
        state.contexts = {key: m.context_length for key, m in keyed if m.context_length}
        keys = {key: m.model_key for key, m in keyed}
        state.model_keys = {key: statement for key, statement in keys.items() if statement}
        return changed

    def serving(self, key: str) -> list[NodeState]:
        """Every node that serves `key`, online or not (the router filters). Kept as a
        list per key and rebuilt only when a node starts or stops serving it."""
        cached = self._serving_cache.get(key)
        if cached is None:
            node_ids = self._by_model.get(key)
            if not node_ids:  # not kept: a client may name any model
                return []
            cached = self._serving_cache[key] = [self._nodes[n] for n in node_ids]
        return cached

    def served_keys(self) -> list[str]:
        """Routing keys that at least one registered node serves."""
        return [key for key, node_ids in self._by_model.items() if node_ids]

    def has_online(self, key: str) -> bool:
        return next(self.online_iter(key), None) is not None

    def online_serving(self, key: str) -> list[NodeState]:
        """The nodes that could take a job for `key` now or soon: approved, not revoked,
        online (busy or not)."""
        return list(self.online_iter(key))

    def online_iter(self, key: str) -> Iterator[NodeState]:
        """`online_serving`, one at a time: a caller that needs only the first few stops
        there instead of checking every node of a popular model."""
        now = time.monotonic()
        return (
            n
            for n in self.serving(key)
            if n.approved and not n.revoked and n.online(now, self.offline_after_s)
        )

    def online_models(self) -> dict[str, list[NodeState]]:
        """Routing key -> online nodes serving it (only keys with at least one). Nodes
        awaiting approval or revoked serve nobody, so their models are not offered."""
        result: dict[str, list[NodeState]] = {}
        for key in self._by_model:
            if online := self.online_serving(key):
                result[key] = online
        return result

    def expect(self, node_id: str, served: list[str], within_s: float) -> None:
        """A node that was online when the control plane stopped (the database says so):
        its models count as coming back for `within_s`, until the node reconnects."""
        keys = {routing_key(name) for name in served}
        self._expected[node_id] = (keys, time.monotonic() + within_s)

    def returning_keys(self) -> set[str]:
        """Routing keys only nodes still expected back serve (none of them online yet)."""
        now, keys = time.monotonic(), set[str]()
        for node_id, (served, until) in list(self._expected.items()):
            node = self._nodes.get(node_id)
            if until < now or (node is not None and node.online(now, self.offline_after_s)):
                del self._expected[node_id]
            else:
                keys |= served
        return keys

    def take_unflushed(self) -> dict[str, float]:
        seen, self._unflushed = self._unflushed, {}
        return seen
