"""One spot-check: a delivered answer re-scored by a trusted engine serving the claimed
model (engine.py), then judged by scoring.py.

The engine renders the job's messages with the model's chat template and tokenizes the
prompt and the answer (the usage recount); at `positions` token positions of the answer,
drawn at random (the end of the answer too, when it ended by itself), it gives the
most likely next tokens after the prompt and the answer so far. Positions go in
increasing order, so an engine that keeps its cache evaluates the answer about once:
a check costs about one prefill of prompt + answer plus a token per position, which is
`Verdict.cost` in the budget's units (budget.py).

A node cannot tell which answers are checked: the check runs after the job is done,
on what the client received.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from infernet.controlplane.verification.engine import Scorer
from infernet.controlplane.verification.scoring import (
    Finding,
    Position,
    Usage,
    answer_findings,
    usage_findings,
)

POSITIONS = 8  # token positions scored per answer (plus its end)
DECODE_WEIGHT = 8.0  # one decoded token costs about this many prefilled ones (budget units)


@dataclass(frozen=True, slots=True)
class Answer:
    """What one node delivered for one job, as the control plane saw it."""

    job_id: str
    node_id: str
    messages: list[dict[str, str]]
    temperature: float
    top_p: float
    max_tokens: int
    stop: list[str]
    text: str
    finish_reason: str | None
    usage: Usage  # what the node reported

    @property
    def cost(self) -> float:
        """What producing it cost, in prefilled-token units."""
        return self.usage.prompt_tokens + DECODE_WEIGHT * self.usage.completion_tokens


@dataclass(frozen=True, slots=True)
class Verdict:
    findings: tuple[Finding, ...]
    positions: int  # positions scored
    recount: Usage
    cost: float  # what the check cost, in prefilled-token units

    @property
    def passed(self) -> bool:
        return not self.findings

    @property
    def checks(self) -> str:
        """The failed checks, comma-separated ('' when it passed)."""
        return ",".join(dict.fromkeys(f.check for f in self.findings))

    @property
    def detail(self) -> str:
        return "; ".join(f.detail for f in self.findings)[:2000]


@dataclass
class SpotCheck:
    scorer: Scorer
    rng: random.Random = field(default_factory=random.SystemRandom)
    positions: int = POSITIONS

    def choose(self, length: int, ended: bool) -> list[int]:
        """Sorted positions to score in an answer of `length` tokens (`length` itself,
        its end, when it ended by itself)."""
        picked = self.rng.sample(range(length), min(self.positions, length))
        return sorted(picked + ([length] if ended else []))

    async def check(self, answer: Answer) -> Verdict:
        prompt_text = await self.scorer.render(answer.messages)
        prompt = [t.id for t in await self.scorer.tokenize(prompt_text)]
        tokens = await self.scorer.tokenize(answer.text)
        ends = await self.scorer.end_pieces()
        recount = Usage(len(prompt), len(tokens))
        # An answer stopped by a client's stop string ends where the model would not.
        ended = answer.finish_reason == "stop" and not answer.stop
        ids = [t.id for t in tokens]
        scored: list[Position] = []
        offsets = [0]
        for t in tokens:
            offsets.append(offsets[-1] + len(t.piece))
        for index in self.choose(len(tokens), ended):
            top = await self.scorer.next_token(prompt + ids[:index])
            emitted = tokens[index] if index < len(tokens) else None
            rest = answer.text[offsets[index] :] if emitted else ""
            scored.append(Position(index, emitted, rest, top, ends))
        findings = answer_findings(scored, answer.temperature)
        findings += usage_findings(answer.usage, recount, answer.finish_reason, answer.max_tokens)
        cost = len(prompt) + len(tokens) + DECODE_WEIGHT * len(scored)
        return Verdict(tuple(findings), len(scored), recount, cost)
