"""Where a waiting job can run now: its candidates (the nodes serving its model that its
routing preferences allow, less those that already failed it), the nodes whose cache
probably holds the start of its prompt (prefix_index.py), the router's pick among them,
and, once it was sent, what the chosen node now holds and why the others were passed
over (for the "why no jobs" explainer).

The balance rule has two halves: the router's cap on running jobs (router.py), at the
instant of a decision, and here, over time, the share of a model's last `WINDOW` jobs: a
node above `SHARE_CAP` times its fair share of them gets no credit for holding only the
prompt's first message (a system prompt many conversations share), so a hot prefix
cannot draw every new conversation onto the node that ran it first. A match past the
first message is the conversation's own history: it keeps its node whatever the share."""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

from infernet.controlplane.jobs.explain import note_passed_over
from infernet.controlplane.jobs.live import LiveJob
from infernet.controlplane.jobs.prefix_index import (
    BLOCK_CHARS,
    CHARS_PER_TOKEN,
    MAX_HOLDERS,
    PrefixIndex,
    Prompt,
)
from infernet.controlplane.jobs.router import Affinity, pick_node, prefill_s
from infernet.controlplane.nodes.registry import NodeRegistry, NodeState

DEFAULT_CACHE_TOKENS = 4096  # a node's cache when it does not say its context
WINDOW = 64
SHARE_CAP = 1.5


class RecentShare:
    """Which nodes ran each model's last `WINDOW` jobs."""

    def __init__(self) -> None:
        self._recent: dict[str, deque[str]] = {}
        self._counts: dict[str, Counter[str]] = {}

    def add(self, key: str, node_id: str) -> None:
        recent = self._recent.setdefault(key, deque())
        counts = self._counts.setdefault(key, Counter())
        recent.append(node_id)
        counts[node_id] += 1
        if len(recent) > WINDOW:
            counts[recent.popleft()] -= 1

    def most(self, key: str, nodes: int) -> float:
        """The most of the model's recent jobs a node may have run and still be within
        its share, among `nodes` serving it (at most `WINDOW` count: each had one)."""
        mean = len(self._recent.get(key, ())) / max(1, min(nodes, WINDOW))
        return max(SHARE_CAP * mean, mean + 1)

    def count(self, key: str, node_id: str) -> int:
        counts = self._counts.get(key)
        return counts[node_id] if counts else 0


class Placement:
    """`prefix_routing` False: routing by load alone (Settings.prefix_routing)."""

    def __init__(self, registry: NodeRegistry, prefix_routing: bool = True) -> None:
        self._registry = registry
        self.index = PrefixIndex() if prefix_routing else None
        self.recent = RecentShare()

    def admit(
        self, job: LiveJob, allowed: frozenset[str] | None, order: tuple[str, ...] | None
    ) -> None:
        """What placing a newly submitted job reads: the nodes its preferences allow, in
        their order, and its prompt's prefix blocks."""
        job.allowed, job.order = allowed, order
        if job.request.messages:
            job.prompt = Prompt.of(job.request.messages, job.request.session)

    def candidates(self, job: LiveJob) -> list[NodeState]:
        if job.allowed is None:
            serving = self._registry.serving(job.key)
        else:  # its preferences allow these (preferences.py): O(allowed), not O(network)
            nodes = (self._registry.get(node_id) for node_id in job.allowed)
            serving = [n for n in nodes if n is not None and job.key in n.served]
        if job.excluded:  # never hand a job back to a node that stalled or failed on it
            serving = [n for n in serving if n.node_id not in job.excluded]
        return serving

    def affinity(self, job: LiveJob) -> Affinity | None:
        """The candidates that probably hold the start of the job's prompt, and how much
        of it; None when none does (or the job is pinned)."""
        if self.index is None or job.prompt is None or job.request.node_id is not None:
            return None
        key, prompt = job.key, job.prompt
        matched = self.index.match(key, prompt, time.monotonic())
        nodes: list[NodeState] = []
        cached: dict[str, int] = {}
        most = self.recent.most(key, len(self._registry.serving(key)))
        for node_id, chars in matched.items():
            node = self._registry.get(node_id)
            if node is None or key not in node.served or node_id in job.excluded:
                continue
            if job.allowed is not None and node_id not in job.allowed:
                continue
            if chars <= prompt.first_chars and self.recent.count(key, node_id) > most:
                continue  # only a shared first message, on a node above its share
            nodes.append(node)
            cached[node_id] = min(chars, prompt.chars)
        return Affinity(cached, nodes, job.prompt.chars) if nodes else None

    def place(self, job: LiveJob) -> NodeState | None:
        """The node to send `job` to now, or None when none can take it."""
        if job.order is not None and job.request.node_id is None:
            return self._first_in_order(job)
        return pick_node(
            self.candidates(job),
            job.key,
            self._registry.offline_after_s,
            pinned=job.request.node_id,
            need=job.need,
            affinity=self.affinity(job),
        )

    def _first_in_order(self, job: LiveJob) -> NodeState | None:
        """The first node of the job's `sort` order that can take it now."""
        offline_after_s = self._registry.offline_after_s
        for node_id in job.order or ():
            node = self._registry.get(node_id)
            if node is None or node_id in job.excluded or job.key not in node.served:
                continue
            if pick_node([node], job.key, offline_after_s, need=job.need) is node:
                return node
        return None

    def chosen(self, job: LiveJob, node: NodeState) -> dict[str, Any]:
        """Record that `node` was sent the job's prompt; what the job's record says about
        why it went there: `cache` when the node probably held part of the prompt,
        `session` when it ran the client's session last, else `load`."""
        routing: dict[str, Any] = {"reason": "load"}
        self.recent.add(job.key, node.node_id)
        if self.index is None or job.prompt is None:
            return routing
        now = time.monotonic()
        prompt = job.prompt
        held = self.index.match(job.key, prompt, now, MAX_HOLDERS).get(node.node_id, 0)
        if held:
            session = self.index.session_node(job.key, prompt, now) == node.node_id
            node.cache_routed += 1
            routing = {
                "reason": "session" if session else "cache",
                "cached_chars": held,
                "prefill_saved_s": round(prefill_s(node, held), 3),
            }
        context = node.contexts.get(job.key, DEFAULT_CACHE_TOKENS)
        capacity = context * node.max_concurrent * CHARS_PER_TOKEN // BLOCK_CHARS
        self.index.record(job.key, node.node_id, prompt, now, capacity)
        return routing

    def explain(self, job: LiveJob, chosen: NodeState) -> None:
        """Why the others were passed over (explain.py), once the job was sent."""
        note_passed_over(
            self.candidates(job),
            chosen,
            job.key,
            self._registry.offline_after_s,
            pinned=job.request.node_id,
            need=job.need,
            for_cache=(job.routing or {}).get("reason") in ("cache", "session"),
        )
