"""Whether a node's context can hold a job: the router's context filter and preference.

A job needs room for its prompt, whose token count the control plane only bounds
(protocol/tokens.py) until an engine counted it, and for its answer (`max_tokens`, which
a node clamps to the room left rather than refuse). Against the context a node reports
for the model (in its heartbeat), a node is:

- too small (filtered out, reason `context_too_small`): less than the prompt's lower
  bound plus one token of answer: the prompt certainly does not fit;
- sure: at least the prompt's upper bound plus `max_tokens`: the whole answer fits;
- unsure: in between. The node counts the prompt exactly and clamps the answer or
  refuses the prompt (jobs/context.py then tries a node with room). Such a node waits up
  to `UNSURE_FIT_S` longer in the router's prediction, the less the smaller its context,
  so a sure node, or else the largest, is preferred.

A node that reports no context for the model is neither filtered nor held back: its
engine's own check is the only one.
"""

from __future__ import annotations

from dataclasses import dataclass

from infernet.controlplane.nodes.registry import NodeState
from infernet.protocol.tokens import PromptBounds

UNSURE_FIT_S = 30.0


@dataclass(frozen=True, slots=True)
class ContextNeed:
    prompt: PromptBounds
    max_tokens: int

    @property
    def least(self) -> int:
        """Context below which the job certainly cannot run (prompt plus one token)."""
        return self.prompt.lower + 1

    @property
    def whole(self) -> int:
        """Context from which the whole answer certainly fits."""
        return self.prompt.upper + self.max_tokens


def too_small(node: NodeState, key: str, need: ContextNeed | None) -> bool:
    context = node.contexts.get(key)
    return need is not None and context is not None and context < need.least


def unsure_penalty_s(node: NodeState, key: str, need: ContextNeed | None) -> float:
    context = node.contexts.get(key)
    if need is None or context is None or context >= need.whole:
        return 0.0
    return UNSURE_FIT_S * (need.whole - context) / need.whole
