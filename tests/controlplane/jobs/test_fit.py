"""The router and contexts: a node too small for the prompt is filtered with a reason, a
node sure to hold the whole answer is preferred, one that does not say is left alone."""

from __future__ import annotations

import random

from infernet.controlplane.jobs.fit import UNSURE_FIT_S, ContextNeed, unsure_penalty_s
from infernet.controlplane.jobs.router import pick_node, predicted_wait_s, route
from infernet.controlplane.nodes.registry import NodeState
from infernet.protocol.tokens import PromptBounds
from tests.controlplane.jobs.test_router import KEY, OFFLINE_AFTER_S, node

# A prompt of 1,000 to 5,000 tokens, answer up to 500: too much for 512, unsure for 2,048
# and 4,096, sure for 8,192.
NEED = ContextNeed(PromptBounds(1000, 5000), max_tokens=500)


def sized(name: str, context: int | None) -> NodeState:
    state = node(name)
    if context is not None:
        state.contexts[KEY] = context
    return state


def test_a_node_too_small_for_the_prompt_never_gets_it_and_says_why() -> None:
    small, large = sized("small", 512), sized("large", 8192)
    decision = route([small, large], KEY, OFFLINE_AFTER_S, need=NEED)
    assert decision.node is large
    assert decision.rejected == {"small": "context_too_small"}
    assert pick_node([small], KEY, OFFLINE_AFTER_S, need=NEED) is None


def test_a_node_sure_to_hold_the_answer_wins_over_one_that_might_clamp_or_refuse() -> None:
    rng = random.Random(7)
    unsure, sure = sized("unsure", 4096), sized("sure", 8192)
    picks = [pick_node([unsure, sure], KEY, OFFLINE_AFTER_S, need=NEED, rng=rng) for _ in range(50)]
    assert all(pick is sure for pick in picks)
    why = route([unsure, sure], KEY, OFFLINE_AFTER_S, need=NEED, rng=rng).rejected
    assert why == {"unsure": "context_unsure"}


def test_among_unsure_nodes_the_larger_context_waits_less() -> None:
    mid, larger = sized("mid", 2048), sized("larger", 4096)
    assert 0 < unsure_penalty_s(larger, KEY, NEED) < unsure_penalty_s(mid, KEY, NEED)
    assert unsure_penalty_s(mid, KEY, NEED) < UNSURE_FIT_S
    assert predicted_wait_s(larger, KEY, NEED) > predicted_wait_s(larger, KEY)


def test_an_unsure_node_still_takes_the_job_when_no_sure_one_is_free() -> None:
    unsure, busy = sized("unsure", 4096), sized("sure", 8192)
    busy.active_jobs = {f"j{i}" for i in range(busy.max_concurrent)}
    chosen = pick_node([unsure, busy], KEY, OFFLINE_AFTER_S, need=NEED)
    assert chosen is unsure


def test_a_node_that_does_not_say_its_context_is_neither_filtered_nor_held_back() -> None:
    quiet = sized("quiet", None)
    assert pick_node([quiet], KEY, OFFLINE_AFTER_S, need=NEED) is quiet
    assert unsure_penalty_s(quiet, KEY, NEED) == 0.0


def test_without_a_need_contexts_change_nothing() -> None:
    small = sized("small", 16)
    assert pick_node([small], KEY, OFFLINE_AFTER_S) is small
    assert predicted_wait_s(small, KEY, None) == predicted_wait_s(small, KEY)
