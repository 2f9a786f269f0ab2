"""What the API says about a node's verifications (controlplane/verification/)."""

from __future__ import annotations

from pydantic import BaseModel


class VerificationPublic(BaseModel):
    """One check of one of the node's answers. Which checks failed and why; never the
    prompt, nor whether the job was a client's or the platform's own."""

    at: str | None
    job_id: str | None
    passed: bool
    checks: str  # the failed checks, comma-separated: greedy_token, answer_end, ...
    detail: str
    withheld_usdc: str | None


class ReputationPublic(BaseModel):
    """A node's reputation as its owner sees it."""

    node_id: str
    grade: str  # new | A | B | C: what clients see
    score: float
    checks: int
    failed: int
    penalty_s: float  # added to its predicted wait by the router
    offences: int  # repeated failures count here too; 3 exclude it from routing
    explanation: str
    recent: list[VerificationPublic]


class GradePublic(BaseModel):
    """A node's verification grade as every client sees it."""

    node_id: str
    grade: str
