"""Which node runs a job: filters, then scores, then a pick among the best.

Filters drop nodes that cannot take the job now (offline, no job channel, backend down,
no free slot, a context too small for the prompt, ...). The score predicts the wait until
the first token from what the registry knows: queue depth relative to capacity times the
node's measured job time, plus a load penalty when the model is not hot, plus a penalty
when the node's context is not sure to hold the whole answer (fit.py). When some nodes probably
hold the start of the prompt in their cache (an `Affinity` from prefix_index.py), every
node's prediction also counts the prefill of what it does not hold, at its own speed, so
a node's cache wins exactly the prefill it saves, and a slow node gets no extra credit
for being slow. A cache counts only on nodes running at most `IMBALANCE_SLACK` more jobs
than the least loaded one looked at, so a hot prefix never piles onto one node while
others idle. Among the nodes within `NEAR_BEST` of the best prediction the pick
uses two random choices (the less loaded of two, measured speed and tier breaking ties),
so a burst spreads instead of piling onto one node. With several control-plane replicas,
those choices are made among the near nodes whose job channel this replica holds, when
there are any: a job on a node connected elsewhere sends its assignment and every
message back across the bus, which costs both replicas CPU and the client time
(docs/benchmarks.md, run 17); a node outside `NEAR_BEST` is never passed over for it.

`pick_node` is the hot path: one fused check per node, each prediction computed once, no
reasons recorded. With many candidates it looks at a random sample of `SAMPLE` of them
(drawn with replacement: O(1) whatever the network size), the nodes of its affinity
taking the place of as many drawn ones, and scans them all only when no
sampled node can take the job, so a free node is never missed. Why a node was passed over
is worked out separately by `reasons` (for the explainer and `route`), off that path.
Everything here is pure: no I/O, a snapshot in, a decision out.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from infernet.controlplane.jobs.fit import ContextNeed, too_small, unsure_penalty_s
from infernet.controlplane.nodes.registry import NodeState
from infernet.protocol.tiers import TIER_RANK

COLD_LOAD_S = 10.0  # typical load time of a model that is installed but not resident
NEAR_BEST = 0.10  # nodes within 10% of the best predicted wait are treated as equals
SAMPLE = 32  # candidates looked at per decision when a model has more nodes than this
# Per offence (nodes/offences.py) a node waits this much longer in the prediction; after
# MAX_OFFENCES it gets no jobs at all.
OFFENCE_PENALTY_S = 600.0
MAX_OFFENCES = 3
# A node's cache counts only while it runs at most this many jobs more than the least
# loaded node looked at (or half as many again, when that is more).
IMBALANCE_SLACK = 1
# Prefill speed, for the seconds a cached prefix saves: a multiple of the node's measured
# generation speed (prefill is batched), or a CPU-class default before any measurement.
PREFILL_PER_DECODE = 10.0
DEFAULT_PREFILL_TOKENS_PER_S = 500.0
CHARS_PER_TOKEN = 4

Filter = Callable[[NodeState, float, float], bool]
T = TypeVar("T")
# The router's own random stream: drawing from the `random` module's would move the state
# that everything else in the process shares (a test framework replaying its draws).
_RANDOM = random.Random()


class Draw(Protocol):
    """What the router draws randomness from (a `random.Random`)."""

    def random(self) -> float: ...

    def sample(self, population: Sequence[T], k: int) -> list[T]: ...


FILTERS: tuple[tuple[str, Filter], ...] = (
    ("not_approved", lambda n, now, off: n.approved and not n.revoked),
    ("offences", lambda n, now, off: n.offences < MAX_OFFENCES),
    ("offline", lambda n, now, off: n.online(now, off)),
    ("draining", lambda n, now, off: not n.draining),
    ("no_channel", lambda n, now, off: n.channel is not None),
    ("backend_unhealthy", lambda n, now, off: n.backend_healthy),
    ("busy", lambda n, now, off: n.free_slots > 0),
)


@dataclass(frozen=True, slots=True)
class Affinity:
    """The nodes that probably hold the start of a job's prompt in their cache (node id ->
    characters held), looked at besides any sample, and the prompt's length."""

    cached: dict[str, int]
    nodes: Sequence[NodeState]
    prompt_chars: int


def prefill_s(node: NodeState, chars: int) -> float:
    """Seconds `node` would spend prefilling `chars` characters of prompt (an estimate)."""
    rate = node.tokens_per_s * PREFILL_PER_DECODE or DEFAULT_PREFILL_TOKENS_PER_S
    return chars / CHARS_PER_TOKEN / rate


@dataclass(frozen=True)
class Decision:
    node: NodeState | None
    rejected: dict[str, str] = field(default_factory=dict)  # node id -> reason


def usable(node: NodeState, now: float, offline_after_s: float) -> bool:
    """True when no filter in `FILTERS` rejects the node (the same checks, fused)."""
    return (
        node.approved
        and not node.revoked
        and node.offences < MAX_OFFENCES
        and node.last_seen > 0
        and now - node.last_seen <= offline_after_s
        and not node.draining
        and node.channel is not None
        and node.backend_healthy
        and len(node.active_jobs) < node.max_concurrent
    )


def predicted_wait_s(node: NodeState, key: str, need: ContextNeed | None = None) -> float:
    """Seconds until this node would start streaming the job (lower is better)."""
    queue = len(node.active_jobs) / node.max_concurrent
    cold = 0.0 if key in node.hot else COLD_LOAD_S
    penalty = node.integrity_penalty_s + node.offences * OFFENCE_PENALTY_S
    return queue * node.avg_job_s + cold + penalty + unsure_penalty_s(node, key, need)


def _preference(node: NodeState) -> tuple[int, float, int]:
    """Between two equally predicted nodes: fewer running jobs, then faster, then bigger."""
    return (len(node.active_jobs), -node.tokens_per_s, -TIER_RANK[node.vram_tier])


def pick_node(
    candidates: Sequence[NodeState],
    key: str,
    offline_after_s: float,
    *,
    pinned: str | None = None,
    rng: random.Random | None = None,
    need: ContextNeed | None = None,
    affinity: Affinity | None = None,
) -> NodeState | None:
    """The node to run a job for `key` on now, or None when none can take it."""
    draw: Draw = rng or _RANDOM
    if pinned is not None:
        pinned_only = [n for n in candidates if n.node_id == pinned]
        return _best(pinned_only, key, offline_after_s, draw, need)
    count = len(candidates)
    if count > SAMPLE:
        pick = draw.random
        cached = list(affinity.nodes) if affinity else []  # in place of as many drawn
        sample = [candidates[int(pick() * count)] for _ in range(SAMPLE - len(cached))]
        sample.extend(cached)
        chosen = _best(sample, key, offline_after_s, draw, need, affinity)
        if chosen is not None:
            return chosen
    return _best(candidates, key, offline_after_s, draw, need, affinity)


def _best(
    nodes: Sequence[NodeState],
    key: str,
    offline_after_s: float,
    draw: Draw,
    need: ContextNeed | None = None,
    affinity: Affinity | None = None,
) -> NodeState | None:
    now = time.monotonic()
    scored: list[tuple[float, NodeState]] = []
    best = float("inf")
    for node in nodes:
        if usable(node, now, offline_after_s) and not too_small(node, key, need):
            wait = predicted_wait_s(node, key, need)
            scored.append((wait, node))
            best = min(best, wait)
    if not scored:
        return None
    if affinity:
        scored = _with_prefill(scored, affinity)
        best = min(wait for wait, _ in scored)
    limit = best + abs(best) * NEAR_BEST + 1e-9
    near = [node for wait, node in scored if wait <= limit]
    near = [node for node in near if node.channel_here] or near
    if len(near) == 1:
        return near[0]
    first, second = draw.sample(near, 2)
    return first if _preference(first) <= _preference(second) else second


def _with_prefill(
    scored: list[tuple[float, NodeState]], affinity: Affinity
) -> list[tuple[float, NodeState]]:
    """Predicted waits plus the prefill of what each node does not hold (all of the
    prompt on a node past the imbalance cap of the least loaded one)."""
    fewest = min(len(node.active_jobs) for _, node in scored)
    cap = fewest + max(IMBALANCE_SLACK, fewest // 2)
    tokens, cached = affinity.prompt_chars / CHARS_PER_TOKEN, affinity.cached
    out = []
    for wait, node in scored:  # prefill_s, inlined: this runs per node of a decision
        held = cached.get(node.node_id, 0) / CHARS_PER_TOKEN if len(node.active_jobs) <= cap else 0
        rate = node.tokens_per_s * PREFILL_PER_DECODE or DEFAULT_PREFILL_TOKENS_PER_S
        out.append((wait + (tokens - held) / rate, node))
    return out


def reason(
    node: NodeState, key: str, now: float, offline_after_s: float, need: ContextNeed | None = None
) -> str:
    """Why `node` did not get a job for `key`: the first filter it fails (its context too
    small for the prompt last), else `model_cold` when the model was not resident on it,
    else `context_unsure` when its context was not sure to hold the answer, else `slower`."""
    failed = next((r for r, keep in FILTERS if not keep(node, now, offline_after_s)), None)
    if failed is None and too_small(node, key, need):
        failed = "context_too_small"
    if failed is None and key in node.hot and unsure_penalty_s(node, key, need) > 0:
        failed = "context_unsure"
    return failed or ("model_cold" if key not in node.hot else "slower")


def considered(
    candidates: Sequence[NodeState], pinned: str | None, rng: random.Random | None = None
) -> Sequence[NodeState]:
    """The candidates whose reasons are worth recording for one decision: the pinned
    node, or all of them, or (past `SAMPLE`) a random sample, so recording stays O(1)."""
    if pinned is not None:
        return [n for n in candidates if n.node_id == pinned]
    if len(candidates) <= SAMPLE:
        return candidates
    return (rng or _RANDOM).sample(candidates, SAMPLE)


def reasons(
    nodes: Sequence[NodeState],
    chosen: NodeState | None,
    key: str,
    offline_after_s: float,
    need: ContextNeed | None = None,
) -> dict[str, str]:
    """Node id -> why it was passed over, for each of `nodes` other than `chosen`."""
    now = time.monotonic()
    return {n.node_id: reason(n, key, now, offline_after_s, need) for n in nodes if n is not chosen}


def route(
    candidates: Sequence[NodeState],
    key: str,
    offline_after_s: float,
    *,
    pinned: str | None = None,
    rng: random.Random | None = None,
    need: ContextNeed | None = None,
) -> Decision:
    """`pick_node` plus why the passed-over candidates were (all of them up to `SAMPLE`,
    a random sample past that). The hot path is `pick_node` alone."""
    chosen = pick_node(candidates, key, offline_after_s, pinned=pinned, rng=rng, need=need)
    looked_at = considered(candidates, pinned, rng)
    return Decision(chosen, reasons(looked_at, chosen, key, offline_after_s, need))
