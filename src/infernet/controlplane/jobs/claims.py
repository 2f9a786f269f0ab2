"""What a node says about an attempt, checked against what the control plane can bound.

Anyone can run a node, so a node's message is a claim. For each attempt the control plane
knows, from the assignment it sent (`AttemptBound.of`):

* completion tokens: at most the attempt's `max_tokens`; the stream is cut at the first
  token frame past it (an honest node sends one frame per token, never more);
* streamed characters: at most what `max_tokens` tokens can hold (money/bounds.py); a
  piece past it is cut to fit and the stream ends there;
* prompt tokens: at most what the messages sent to this node can hold (bounds.py: a
  continuation re-sends the delivered text, so it is bounded per attempt).

A usage claim above a bound is believed up to the bound (`check_usage`), which is what
the node is paid, and is an offence (nodes/offences.py). Usage that is not a count
(negative, fractional, a string) is refused at the wire (protocol/wire.py `Count`): such a
message, like any malformed one that names the node's current attempt, becomes a
`JobFailed` with `MALFORMED` (`malformed_failure`), and the job goes elsewhere. What a
node says in free text (a failure's code and message, a finish reason) is bounded before
it is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import from_json

from infernet.controlplane.money.accounting import Segment
from infernet.controlplane.money.bounds import output_chars_bound, prompt_bound
from infernet.protocol.wire import (
    CONTEXT_LENGTH_EXCEEDED,
    JobAssignment,
    JobDone,
    JobFailed,
    UsageReport,
)

MALFORMED = "malformed_message"
# The failure codes a node daemon sends (node/executor.py); anything else is stored as
# `backend_error`, with the node's text kept (bounded) in the message.
NODE_ERRORS = frozenset(
    {
        "model_not_loaded",
        "backend_unavailable",
        "backend_error",
        "bad_request",
        CONTEXT_LENGTH_EXCEEDED,
        MALFORMED,
    }
)
MAX_FAILURE_TEXT = 1000


@dataclass(frozen=True, slots=True)
class AttemptBound:
    prompt_tokens: int
    completion_tokens: int
    chars: int

    @classmethod
    def of(cls, assignment: JobAssignment) -> AttemptBound:
        confidential = assignment.encrypted is not None
        return cls(
            prompt_bound(assignment.messages, assignment.encrypted),
            assignment.max_tokens,
            output_chars_bound(assignment.max_tokens, confidential),
        )


@dataclass(frozen=True, slots=True)
class CheckedUsage:
    prompt_tokens: int
    completion_tokens: int
    excess: str | None  # what the claim exceeded, in words; None: it was within bounds


def check_usage(claim: UsageReport, bound: AttemptBound) -> CheckedUsage:
    """The claim, believed up to the attempt's bounds."""
    over = []
    if claim.prompt_tokens > bound.prompt_tokens:
        over.append(
            f"prompt_tokens {claim.prompt_tokens} > {bound.prompt_tokens} the prompt can hold"
        )
    if claim.completion_tokens > bound.completion_tokens:
        over.append(
            f"completion_tokens {claim.completion_tokens} > max_tokens {bound.completion_tokens}"
        )
    return CheckedUsage(
        min(claim.prompt_tokens, bound.prompt_tokens),
        min(claim.completion_tokens, bound.completion_tokens),
        "; ".join(over) or None,
    )


def final_segment(
    node_id: str, message: JobDone, bound: AttemptBound
) -> tuple[Segment, str | None]:
    """The segment a node's report is worth, and what it claimed beyond its bounds. A
    claim cut down is paid as checked, without its receipt (signed over the claim)."""
    checked = check_usage(message.usage, bound)
    honest = checked.excess is None
    receipt = message.receipt.model_dump() if message.receipt and honest else None
    source = message.usage.source if honest else "bounded"
    segment = Segment(
        node_id,
        message.attempt,
        checked.prompt_tokens,
        checked.completion_tokens,
        source,
        receipt,
    )
    return segment, checked.excess


def admit(text: str, frames: int, chars: int, bound: AttemptBound) -> tuple[str, str | None]:
    """Of a token frame arriving after `frames` frames and `chars` characters of this
    attempt: the part to relay, and why the stream must be cut after it (None: go on)."""
    if frames >= bound.completion_tokens:
        return "", f"streamed past max_tokens {bound.completion_tokens}"
    room = bound.chars - chars
    if len(text) > room:
        return text[: max(room, 0)], (
            f"streamed more text than {bound.completion_tokens} tokens can hold "
            f"({bound.chars} characters)"
        )
    return text, None


def admit_all(
    texts: list[str], frames: int, chars: int, bound: AttemptBound
) -> tuple[list[str], str | None]:
    """`admit` over consecutive token frames (one `JobTokens` message): the non-empty
    pieces to relay, in order, and why the stream must be cut after them (None: go on)."""
    pieces: list[str] = []
    for text in texts:
        piece, over = admit(text, frames + len(pieces), chars, bound)
        if piece:
            pieces.append(piece)
            chars += len(piece)
        if over is not None:
            return pieces, over
    return pieces, None


def finish_reason(claimed: str) -> str:
    """The finish reason as stored: `length` or `stop` (the only two clients are told)."""
    return "length" if claimed == "length" else "stop"


def node_failure(message: JobFailed) -> tuple[str, str]:
    """A node's failure as stored: a known code, and its text bounded."""
    code = message.error if message.error in NODE_ERRORS else "backend_error"
    return code, message.message[:MAX_FAILURE_TEXT]


def malformed_failure(raw: str, error: ValidationError) -> JobFailed | None:
    """A message that failed validation, as the failure of the attempt it names (the
    caller applies it only if that is the node's current attempt); None when it names
    no job and attempt."""
    try:
        # jiter bounds nesting itself; json.loads would trust the interpreter's recursion
        # limit, which web3's py_ecc raises to 100,000: a "[[[[..." frame past the C stack.
        data = from_json(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    job_id, attempt = data.get("job_id"), data.get("attempt", 1)
    if not isinstance(job_id, str) or type(attempt) is not int:
        return None
    problem = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in error.errors()[:3]
    )
    return JobFailed(
        job_id=job_id,
        attempt=attempt,
        error=MALFORMED,
        message=f"malformed message from the node ({problem})"[:MAX_FAILURE_TEXT],
    )
