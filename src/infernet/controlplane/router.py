"""Which node runs a job: filters, then scores, then a pick among the best.

Filters drop nodes that cannot take the job now, each with a reason (offline, no job
channel, backend down, no free slot, ...); the reasons feed the "why no jobs" explainer.
The score predicts the wait until the first token from what the registry knows: queue
depth relative to capacity times the node's measured job time, plus a load penalty when
the model is not hot, with measured speed and tier as tie-breaks. Among the best nodes
the pick uses two random choices, so a burst spreads instead of piling onto one node.
Everything here is pure: no I/O, a snapshot in, a decision out.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from infernet.controlplane.registry import NodeState

COLD_LOAD_S = 10.0  # typical load time of a model that is installed but not resident
TIER_RANK = {">=48gb": 4, ">=24gb": 3, ">=12gb": 2, ">=8gb": 1, "cpu": 0}
NEAR_BEST = 0.10  # nodes within 10% of the best predicted wait are treated as equals
SAMPLE = 64  # candidates looked at per decision when a model has more nodes than this

Filter = Callable[[NodeState, float, float], bool]

FILTERS: tuple[tuple[str, Filter], ...] = (
    ("not_approved", lambda n, now, off: n.approved and not n.revoked),
    ("offline", lambda n, now, off: n.online(now, off)),
    ("draining", lambda n, now, off: not n.draining),
    ("no_channel", lambda n, now, off: n.channel is not None),
    ("backend_unhealthy", lambda n, now, off: n.backend_healthy),
    ("busy", lambda n, now, off: n.free_slots > 0),
)


@dataclass(frozen=True)
class Decision:
    node: NodeState | None
    rejected: dict[str, str] = field(default_factory=dict)  # node id -> reason


def predicted_wait_s(node: NodeState, key: str) -> float:
    """Seconds until this node would start streaming the job (lower is better)."""
    queue = len(node.active_jobs) / node.max_concurrent
    cold = 0.0 if key in node.hot else COLD_LOAD_S
    return queue * node.avg_job_s + cold + node.integrity_penalty_s


def _tie_break(node: NodeState) -> tuple[float, int]:
    return (-node.tokens_per_s, -TIER_RANK.get(node.vram_tier, 0))


def route(
    candidates: Sequence[NodeState],
    key: str,
    offline_after_s: float,
    *,
    pinned: str | None = None,
    rng: random.Random | None = None,
) -> Decision:
    """Pick a node. With many candidates only a random sample of `SAMPLE` is filtered and
    scored (the decision stays O(1) at 100,000 nodes); the whole set is examined only when
    no sampled node can take the job, so a free node is never missed."""
    if pinned is not None:
        return _decide([n for n in candidates if n.node_id == pinned], key, offline_after_s, rng)
    if len(candidates) > SAMPLE:
        sample = (rng or random).sample(candidates, SAMPLE)
        decision = _decide(sample, key, offline_after_s, rng)
        if decision.node is not None:
            return decision
    return _decide(candidates, key, offline_after_s, rng)


def _decide(
    candidates: Sequence[NodeState], key: str, offline_after_s: float, rng: random.Random | None
) -> Decision:
    now = time.monotonic()
    rejected: dict[str, str] = {}
    usable = []
    for node in candidates:
        reason = next((r for r, keep in FILTERS if not keep(node, now, offline_after_s)), None)
        if reason is None:
            usable.append(node)
        else:
            rejected[node.node_id] = reason
    if not usable:
        return Decision(None, rejected)
    waits = {n.node_id: predicted_wait_s(n, key) for n in usable}
    best = min(waits.values())
    near = sorted(
        (n for n in usable if waits[n.node_id] <= best * (1 + NEAR_BEST) + 1e-9), key=_tie_break
    )
    chosen = near[0] if len(near) == 1 else _two_choices(near, rng)
    for node in usable:
        if node is not chosen:
            rejected[node.node_id] = "model_cold" if key not in node.hot else "slower"
    return Decision(chosen, rejected)


def _two_choices(near: list[NodeState], rng: random.Random | None) -> NodeState:
    first, second = (rng or random).sample(near, 2)
    return first if len(first.active_jobs) <= len(second.active_jobs) else second


def pick_node(
    candidates: Sequence[NodeState],
    key: str,
    offline_after_s: float,
    *,
    pinned: str | None = None,
    rng: random.Random | None = None,
) -> NodeState | None:
    return route(candidates, key, offline_after_s, pinned=pinned, rng=rng).node
