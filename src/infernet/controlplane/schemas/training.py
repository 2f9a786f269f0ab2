"""Open-market training jobs as a client submits and reads them (api/training.py).

What nodes send and receive is shared with the node and lives in protocol/training.py.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from infernet.controlplane.store.ids import iso
from infernet.controlplane.store.training import ClaimRecord, ShardRecord, TrainingJobRecord
from infernet.protocol.money import from_micros, show

MAX_SHARDS = 256
MAX_SHARD_EXAMPLES = 1_000_000
MAX_BUDGET_USDC = 10**9


class ShardSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    examples: int = Field(ge=1, le=MAX_SHARD_EXAMPLES)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class TrainingJobCreate(BaseModel):
    """`config` is the frozen `infernet.train.yml` (name, base_model, lora, resources...);
    the budget is held in escrow at once and split over the shards by their size."""

    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any]
    shards: list[ShardSpec] = Field(min_length=1, max_length=MAX_SHARDS)
    budget_usdc: str = Field(min_length=1, max_length=40)
    max_nodes: int = Field(ge=1, le=10_000)
    deadline_hours: float = Field(default=24.0, gt=0, le=24 * 30)


class ShardUpload(BaseModel):
    id: str
    position: int
    examples: int
    upload_path: str  # PUT the shard's JSONL here, with the same API key


class TrainingJobCreated(BaseModel):
    id: str
    status: str
    deadline: str
    shards: list[ShardUpload]


class ShardUploaded(BaseModel):
    id: str
    position: int
    status: str
    job_status: str  # `open` once every shard is uploaded: nodes may claim from then on


class ClaimPublic(BaseModel):
    id: str
    node_id: str
    status: str
    started_at: str
    reported_at: str | None
    decided_at: str | None
    steps: int | None
    loss_before: float | None  # eval loss on the shard's held-out lines, as the node reported
    loss_after: float | None
    verified_before: float | None  # the same, as the control plane's verifier measured it
    verified_after: float | None
    adapter_sha256: str | None
    receipt: dict[str, Any] | None
    detail: str

    @classmethod
    def from_record(cls, claim: ClaimRecord) -> ClaimPublic:
        return cls(
            id=claim.id,
            node_id=claim.node_id,
            status=claim.status,
            started_at=iso(claim.started_at) or "",
            reported_at=iso(claim.reported_at),
            decided_at=iso(claim.decided_at),
            steps=claim.steps,
            loss_before=claim.loss_before,
            loss_after=claim.loss_after,
            verified_before=claim.verified_before,
            verified_after=claim.verified_after,
            adapter_sha256=claim.adapter_sha256,
            receipt=claim.receipt,
            detail=claim.detail,
        )


class ShardPublic(BaseModel):
    id: str
    position: int
    examples: int
    status: str
    attempts: int
    pay_usdc: str
    detail: str
    accepted_claim: str | None  # whose adapter GET .../shards/{id}/adapter_model.safetensors serves
    claims: list[ClaimPublic]

    @classmethod
    def from_record(cls, shard: ShardRecord, claims: list[ClaimRecord]) -> ShardPublic:
        mine = [c for c in claims if c.shard_id == shard.id]
        accepted = next((c.id for c in mine if c.status == "accepted"), None)
        return cls(
            id=shard.id,
            position=shard.position,
            examples=shard.examples,
            status=shard.status,
            attempts=shard.attempts,
            pay_usdc=show(from_micros(shard.pay_micros)),
            detail=shard.detail,
            accepted_claim=accepted,
            claims=[ClaimPublic.from_record(c) for c in mine],
        )


class TrainingJobPublic(BaseModel):
    id: str
    name: str
    base_model: str
    status: str  # uploading | open | done | partial | failed
    detail: str
    budget_usdc: str
    paid_usdc: str  # what accepted shards cost (their nodes' pay plus the platform fee)
    payments: bool  # False: this control plane runs with payments off; nothing is held or paid
    max_nodes: int
    deadline: str
    created_at: str
    finished_at: str | None
    shards: list[ShardPublic]

    @classmethod
    def build(
        cls,
        job: TrainingJobRecord,
        shards: list[ShardRecord],
        claims: list[ClaimRecord],
        payments: bool,
    ) -> TrainingJobPublic:
        paid = sum(s.pay_micros for s in shards if s.status == "accepted")
        return cls(
            id=job.id,
            name=job.name,
            base_model=job.base_model,
            status=job.status,
            detail=job.detail,
            budget_usdc=show(from_micros(job.budget_micros)),
            paid_usdc=show(from_micros(paid if payments else 0)),
            payments=payments,
            max_nodes=job.max_nodes,
            deadline=iso(job.deadline) or "",
            created_at=iso(job.created_at) or "",
            finished_at=iso(job.finished_at),
            shards=[ShardPublic.from_record(s, claims) for s in shards],
        )
