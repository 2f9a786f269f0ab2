"""Why a node gets no jobs: the router's reasons, in words an operator can act on.

No peer shows operators this. The counts come from real routing decisions (each time a
job was routed, the passed-over candidates record why: all of them up to the router's
sample size, a random sample past that), plus the node's current state and the demand for
models it does not serve. Recording runs after the job was sent, off the routing path.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence

from infernet.controlplane.jobs.fit import ContextNeed
from infernet.controlplane.jobs.router import considered, reason
from infernet.controlplane.nodes.registry import NodeState
from infernet.controlplane.schemas.nodes import NodeExplanation, Reason, UnservedDemand

ADVICE = {
    "offline": "No heartbeat for 90 s: check that `infernet start` is running and can reach "
    "the control plane.",
    "no_channel": "Heartbeats arrive but the job channel (WebSocket) is not open: check "
    "proxies and firewalls between the node and the control plane.",
    "backend_unhealthy": "The inference backend does not answer: see `infernet status` and "
    "`infernet doctor`.",
    "busy": "All job slots were taken: raise max_concurrent_jobs if the GPU has headroom.",
    "slower": "Another node was predicted to answer sooner (less queued, faster measured "
    "tokens/s).",
    "model_cold": "The model was not loaded in memory, so a hot node was preferred: keep it "
    "loaded (e.g. OLLAMA_KEEP_ALIVE=-1) or serve fewer models.",
    "cache_elsewhere": "Another node probably held the start of the prompt (the same "
    "conversation or system prompt) in its cache, so it was predicted to answer sooner. Such "
    "jobs spread again when that node gets busy; a faster or less loaded node wins more.",
    "not_approved": "The node waits for its owner's approval (REQUIRE_NODE_APPROVAL).",
    "context_too_small": "The prompt was longer than the context the node runs the model "
    "with: give the engine a larger context if memory allows (llama.cpp -c, vLLM and SGLang "
    "--max-model-len / --context-length, MAX --max-length, ollama_num_ctx in the node config).",
    "context_unsure": "The node's context was not sure to hold the whole answer, so a node "
    "with a larger context was preferred: a larger context (see above) wins such jobs.",
    "offences": "The node claimed more than the control plane could check (usage above "
    "max_tokens or the prompt, a malformed message) too often and gets no jobs; see "
    "last_offence in GET /api/v1/nodes. Run a fresh key with an unmodified daemon.",
}


def note_passed_over(
    candidates: Sequence[NodeState],
    chosen: NodeState | None,
    key: str,
    offline_after_s: float,
    *,
    pinned: str | None = None,
    rng: random.Random | None = None,
    need: ContextNeed | None = None,
    for_cache: bool = False,
) -> None:
    """Count on each candidate looked at, except `chosen`, why it did not get the job
    (`cache_elsewhere` rather than `slower` when `chosen` was picked for its cache)."""
    now = time.monotonic()
    for node in considered(candidates, pinned, rng):
        if node is not chosen:
            why = reason(node, key, now, offline_after_s, need)
            if for_cache and why == "slower":
                why = "cache_elsewhere"
            node.passed_over[why] = node.passed_over.get(why, 0) + 1


def explain(node: NodeState, offline_after_s: float, demand: Counter[str]) -> NodeExplanation:
    status = node.status(time.monotonic(), offline_after_s)
    counts = Counter(node.passed_over)
    if status == "offline":
        counts["offline"] += 0  # listed even before a job was routed while offline
    reasons = [Reason(reason=r, count=c, advice=ADVICE.get(r, r)) for r, c in counts.most_common()]
    unserved = [
        UnservedDemand(model=k, jobs=n) for k, n in demand.most_common() if k not in node.served
    ][:5]
    return NodeExplanation(
        status=status,
        jobs_done=node.jobs_done,
        active_jobs=len(node.active_jobs),
        measured_tokens_per_s=round(node.tokens_per_s, 1),
        reasons=reasons,
        unserved_demand=unserved,
        jobs_routed_for_cache=node.cache_routed,
    )
