"""The statistical tests of one delivered answer, given what a trusted engine says about
sampled positions of it (pure: numbers in, findings out).

At each sampled position the verifier knows the token the answer has there (`emitted`;
None where the answer ended) and the engine's most likely next tokens with their
log-probabilities under the claimed model, given the prompt and the answer so far.

* Greedy answers (temperature 0) are checked exactly: the emitted token must be the
  engine's first choice, or within `tolerance` nats of it (honest engines differ in
  thread count, batch and cache state, which moves near-ties), or the text must go on
  with the first choice's text (the answer re-tokenized differently than it was emitted).
  Where the answer ended, the end-of-turn token must be such a choice.
* Sampled answers are checked by distribution: at temperature T, the surprise
  -log q(token) of honestly sampled tokens has a known mean (the entropy) and variance
  at each position; their sum over the positions is compared with its expectation as a
  z-score. A different model, a degraded one or a hotter sampler is more surprised than
  the claimed model. Samplers that cut the tail (top-k, top-p, min-p, in whatever order
  an engine applies them) only lower the surprise, so the test ignores them: an honest
  node is never pushed over the threshold by them.
  An answer that ends where its end was implausible (below `END_FLOOR` of the first
  choice) is a cut answer.
* Usage: the node's counts against the verifier's recount with the model's tokenizer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

GREEDY_TOLERANCE = 1.0  # nats below the first choice still taken as a near-tie
SAMPLE_Z = 4.0  # one-sided z-score over a job's positions that fails a sampled answer
MIN_SAMPLED_POSITIONS = 4
END_FLOOR = 1e-3  # an end with less than this share of the first choice's probability
USAGE_SLACK = 2  # tokens, plus USAGE_SHARE of the recount, an honest count may differ by
USAGE_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    piece: str
    logprob: float


@dataclass(frozen=True, slots=True)
class Position:
    index: int  # token index in the answer (its length: where the answer ended)
    emitted: Candidate | None  # the answer's token there (logprob unused); None: the end
    rest: str  # the answer's text from this position on
    top: tuple[Candidate, ...]  # the engine's most likely next tokens, best first
    end_pieces: frozenset[str]  # how the engine writes its end-of-turn tokens

    def logprob_of(self, token_id: int) -> float | None:
        return next((c.logprob for c in self.top if c.id == token_id), None)

    def end_logprob(self) -> float | None:
        found = [c.logprob for c in self.top if c.piece in self.end_pieces]
        return max(found) if found else None


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # greedy_token | answer_end | sample_distribution | usage_* | finish_length
    detail: str


def _say(piece: str) -> str:
    return repr(piece)[:40]


def greedy_position(pos: Position, tolerance: float = GREEDY_TOLERANCE) -> Finding | None:
    if not pos.top:
        return None
    best = pos.top[0]
    if pos.emitted is None:
        end = pos.end_logprob()
        if end is not None and end >= best.logprob - tolerance:
            return None
        said = f"{end:.2f}" if end is not None else f"below the top {len(pos.top)}"
        return Finding(
            "answer_end",
            f"the answer ends at token {pos.index}, where the model goes on with "
            f"{_say(best.piece)} ({best.logprob:.2f}); ending there has log-prob {said}",
        )
    lp = pos.logprob_of(pos.emitted.id)
    if lp is not None and lp >= best.logprob - tolerance:
        return None
    if best.piece and pos.rest.startswith(best.piece):
        return None
    said = f"{lp:.2f}" if lp is not None else f"below the top {len(pos.top)}"
    return Finding(
        "greedy_token",
        f"token {pos.index} is {_say(pos.emitted.piece)} (log-prob {said}) where the model "
        f"chooses {_say(best.piece)} ({best.logprob:.2f}) at temperature 0",
    )


def tempered(top: Sequence[Candidate], temperature: float) -> dict[int, float]:
    """The sampling distribution at `temperature` over `top` (renormalized)."""
    scaled = [c.logprob / temperature for c in top]
    peak = max(scaled)
    weights = [math.exp(s - peak) for s in scaled]
    total = sum(weights)
    return {c.id: w / total for w, c in zip(weights, top, strict=True)}


def _seen(pos: Position, q: dict[int, float]) -> float:
    """The probability the model gives to what the answer says next: its token, or any
    token the text goes on with (an answer re-tokenized after the fact can split words
    unlike the engine that wrote it, e.g. " av"+"a" for " a"+"va")."""
    assert pos.emitted is not None
    consistent = sum(q[c.id] for c in pos.top if c.piece and pos.rest.startswith(c.piece))
    return max(q.get(pos.emitted.id, min(q.values())), consistent)


def surprise_z(positions: Sequence[Position], temperature: float) -> float:
    """How much more surprised than expected the claimed model is by the emitted tokens
    (z-score of the summed surprise; 0 with no scored position). A token outside the
    engine's top list is charged the least surprise it can have (that of the list's
    last token), and text the model could write with other tokens is taken at their
    probability, so the test never overstates."""
    observed = expected = variance = 0.0
    for pos in positions:
        if pos.emitted is None or not pos.top:
            continue
        q = tempered(pos.top, temperature)
        entropy = -sum(p * math.log(p) for p in q.values())
        expected += entropy
        variance += sum(p * (-math.log(p) - entropy) ** 2 for p in q.values())
        observed += -math.log(_seen(pos, q))
    return (observed - expected) / math.sqrt(variance + 0.25) if observed else 0.0


def sampled_findings(positions: Sequence[Position], temperature: float) -> list[Finding]:
    findings = []
    scored = [p for p in positions if p.emitted is not None]
    if len(scored) >= MIN_SAMPLED_POSITIONS:
        z = surprise_z(scored, temperature)
        if z > SAMPLE_Z:
            findings.append(
                Finding(
                    "sample_distribution",
                    f"the answer's tokens are {z:.1f} standard deviations more surprising "
                    f"to the model than sampling at temperature {temperature:g} explains "
                    f"({len(scored)} positions)",
                )
            )
    for pos in positions:
        if pos.emitted is None and pos.top:
            end = pos.end_logprob()
            if end is None or end < pos.top[0].logprob + math.log(END_FLOOR):
                findings.append(
                    Finding(
                        "answer_end",
                        f"the answer ends at token {pos.index}, where the model would "
                        f"almost never end (it goes on with {_say(pos.top[0].piece)})",
                    )
                )
    return findings


def answer_findings(positions: Sequence[Position], temperature: float) -> list[Finding]:
    """Every failed test of the sampled positions of one answer."""
    if temperature == 0:
        return [f for f in (greedy_position(p) for p in positions) if f is not None]
    return sampled_findings(positions, temperature)


def _over(claimed: int, recount: int) -> bool:
    return claimed > recount + USAGE_SLACK + USAGE_SHARE * recount


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


def usage_findings(
    claimed: Usage, recount: Usage, finish_reason: str | None, max_tokens: int
) -> list[Finding]:
    """The node's counts against the recount (an honest count differs by a token or two:
    a begin-of-text token, an answer re-tokenized differently)."""
    found = []
    if _over(claimed.prompt_tokens, recount.prompt_tokens):
        found.append(
            Finding(
                "usage_prompt",
                f"reported {claimed.prompt_tokens} prompt tokens; the model's tokenizer "
                f"counts {recount.prompt_tokens}",
            )
        )
    if _over(claimed.completion_tokens, recount.completion_tokens):
        found.append(
            Finding(
                "usage_completion",
                f"reported {claimed.completion_tokens} completion tokens; the answer "
                f"holds {recount.completion_tokens}",
            )
        )
    short = max_tokens - recount.completion_tokens
    if finish_reason == "length" and short > USAGE_SLACK + USAGE_SHARE * max_tokens:
        found.append(
            Finding(
                "finish_length",
                f"says the answer reached max_tokens {max_tokens}, but it holds "
                f"{recount.completion_tokens} tokens",
            )
        )
    return found
