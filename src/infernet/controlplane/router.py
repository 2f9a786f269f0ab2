"""Which node runs a job: filters, then a score, then a pick among the best.

Filters drop nodes that cannot take the job now (offline, no job channel, backend down,
no free slot). The score predicts time to first token from what the registry knows: load
(queue depth relative to capacity) and whether the model is hot. Among the best-scored
nodes the pick uses two random choices so bursts spread instead of piling on one node.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from infernet.controlplane.registry import NodeState

COLD_PENALTY = 0.5


def routable(node: NodeState, now: float, offline_after_s: float) -> bool:
    return (
        node.online(now, offline_after_s)
        and node.channel is not None
        and node.backend_healthy
        and node.free_slots > 0
    )


def score(node: NodeState, key: str) -> float:
    """Lower is better: expected wait relative to a free, hot node."""
    load = len(node.active_jobs) / node.max_concurrent
    return load + (0.0 if key in node.hot else COLD_PENALTY)


def pick_node(
    candidates: Sequence[NodeState],
    key: str,
    offline_after_s: float,
    *,
    pinned: str | None = None,
    rng: random.Random | None = None,
) -> NodeState | None:
    now = time.monotonic()
    usable = [n for n in candidates if routable(n, now, offline_after_s)]
    if pinned is not None:
        usable = [n for n in usable if n.node_id == pinned]
    if not usable:
        return None
    rng = rng or random.Random()
    best = min(score(n, key) for n in usable)
    tied = [n for n in usable if score(n, key) <= best + 1e-9]
    if len(tied) == 1:
        return tied[0]
    first, second = rng.sample(tied, 2)
    return first if len(first.active_jobs) <= len(second.active_jobs) else second
