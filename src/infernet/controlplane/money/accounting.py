"""The seam between the job lifecycle and the money: what happens to a client's balance
when a job is submitted, completed or failed.

`JobManager` calls an `Accounting` at three points (reserve on submit, settle on
completion, release on failure) and asks it for a `Quote` each time it dispatches an
attempt: the node's prices travel with the job so the node can sign its receipt (CPR)
over real usage. `NoAccounting` is the
`PAYMENTS_ENABLED=false` mode (jobs are tracked, nothing is held or charged); the ledger
implements the real thing. A job split between nodes by failover settles per segment,
so each node is paid for what it produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from infernet.controlplane.schemas.jobs import JobCreate


@dataclass(frozen=True)
class Segment:
    """What one node produced for a job (one attempt)."""

    node_id: str
    attempt: int
    prompt_tokens: int
    completion_tokens: int
    usage_source: str = "backend"
    receipt: dict[str, Any] | None = None  # node-signed CPR fields, when the node sent one


@dataclass(frozen=True)
class Quote:
    """What a job costs on one node, sent with the assignment (USDC per 1K tokens)."""

    input_per_1k: Decimal
    output_per_1k: Decimal
    client_pubkey: str | None = None
    chain: str = "base"

    def assignment_fields(self) -> dict[str, str | None]:
        """The `JobAssignment` fields that carry this quote."""
        return {
            "price_input_per_1k": format(self.input_per_1k, "f"),
            "price_output_per_1k": format(self.output_per_1k, "f"),
            "client_pubkey": self.client_pubkey,
            "chain": self.chain,
        }


@dataclass(frozen=True)
class FinishedJob:
    job_id: str
    account_id: str
    model: str
    routing_key: str
    segments: list[Segment] = field(default_factory=list)


class Accounting(Protocol):
    async def reserve(
        self, account_id: str, job_id: str, request: JobCreate, routing_key: str
    ) -> None:
        """Hold the job's maximum cost (on the nodes serving `routing_key`); raise an
        ApiError (e.g. 402) to refuse the job."""
        ...

    async def quote(
        self, job_id: str, account_id: str, node_id: str, routing_key: str
    ) -> Quote | None:
        """The node's prices for this job (None: no payments, so no receipt)."""
        ...

    async def settle(self, job: FinishedJob) -> None:
        """Charge the client for real usage, pay each node its share, release the rest."""
        ...

    async def release(self, account_id: str, job_id: str) -> None:
        """A failed job costs nothing: give the whole hold back."""
        ...


class NoAccounting:
    async def reserve(
        self, account_id: str, job_id: str, request: JobCreate, routing_key: str
    ) -> None:
        return None

    async def quote(
        self, job_id: str, account_id: str, node_id: str, routing_key: str
    ) -> Quote | None:
        return None

    async def settle(self, job: FinishedJob) -> None:
        return None

    async def release(self, account_id: str, job_id: str) -> None:
        return None
