"""Open-market federated LoRA on the wire (Book §9.4, workload class C3): what a node that
trains and the control plane say to each other. Nodes only connect out: shards and
adapters travel through the control plane, every request signed with the node key.

    GET  /api/v1/training/shards/available      -> ShardOffers (what this node may claim)
    POST /api/v1/training/shards/{id}/claim     -> ShardClaim  (settings, pay, expiry)
    GET  /api/v1/training/shards/{id}/data      -> the shard, ChatML JSONL
    POST /api/v1/training/shards/{id}/renew     -> ClaimRenewed (while training)
    POST /api/v1/training/shards/{id}/release   -> ClaimReleased (giving up early)
    PUT  /api/v1/training/shards/{id}/adapter   -> AdapterUploaded (safetensors bytes)
    POST /api/v1/training/shards/{id}/report    -> ReportAccepted (ShardReport)

A training receipt mirrors the CPR (protocol/receipts.py): the node signs what it
delivered (the adapter's SHA-256) and the price it was quoted; the platform countersigns
only after its verifier has reproduced the reported loss, and then pays. The id is
derived from the content (`trr_` + 16 hex characters of the canonical hash).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from infernet.protocol.keys import InvalidKeyError, NodeKey, parse_public_key, verify_schnorr
from infernet.protocol.receipts import normalize_timestamp, normalize_usdc

TRAINING_PREFIX = "/api/v1/training"
TRAINING_RECEIPT_FIELDS = (
    "job_id",
    "shard_id",
    "claim_id",
    "node_pubkey",
    "adapter_sha256",
    "examples",
    "value_usdc",
    "completed_at",
)
_SIGNATURE = r"^[0-9a-f]{128}$"


def shard_path(shard_id: str, action: str) -> str:
    """`/api/v1/training/shards/{id}/{action}`: the node's routes for one shard."""
    return f"{TRAINING_PREFIX}/shards/{shard_id}/{action}"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ShardOffer(_Wire):
    shard_id: str
    job_id: str
    name: str
    base_model: str
    examples: int
    pay_usdc: str
    min_vram_gb: float
    deadline: str


class ShardOffers(_Wire):
    shards: list[ShardOffer] = Field(default_factory=list)


class ClaimRequest(_Wire):
    """A claim carries nothing: the signature says who claims."""


class ShardClaim(_Wire):
    claim_id: str
    shard_id: str
    job_id: str
    config: dict[str, Any]  # the job's frozen infernet.train.yml (input.dataset aside)
    examples: int
    data_sha256: str
    pay_usdc: str
    expires_at: str
    renew_every_s: float


class ClaimRenewed(_Wire):
    claim_id: str
    expires_at: str


class ClaimReleased(_Wire):
    claim_id: str
    status: str


class AdapterUploaded(_Wire):
    claim_id: str
    sha256: str
    size_bytes: int


class TrainingReceiptFields(_Wire):
    """What the signatures of a training receipt cover."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str = Field(min_length=1, max_length=40)
    shard_id: str = Field(min_length=1, max_length=40)
    claim_id: str = Field(min_length=1, max_length=40)
    node_pubkey: str
    adapter_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    examples: int = Field(ge=1, le=1_000_000, strict=True)
    value_usdc: str
    completed_at: str

    @field_validator("node_pubkey", mode="before")
    @classmethod
    def _canonical_pubkey(cls, value: object) -> object:
        try:
            return parse_public_key(value) if isinstance(value, str) else value
        except InvalidKeyError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("value_usdc", mode="before")
    @classmethod
    def _canonical_value(cls, value: object) -> object:
        return normalize_usdc(value) if isinstance(value, str) else value

    @field_validator("completed_at", mode="before")
    @classmethod
    def _canonical_time(cls, value: object) -> object:
        return normalize_timestamp(value) if isinstance(value, str) else value

    def digest(self) -> bytes:
        """SHA-256 of the fields as compact, sorted-key JSON: what each party signs."""
        data = self.model_dump(include=set(TRAINING_RECEIPT_FIELDS))
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).digest()

    def receipt_id(self) -> str:
        return "trr_" + self.digest().hex()[:16]


class TrainingReceipt(TrainingReceiptFields):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(pattern=r"^trr_[0-9a-f]{16}$")
    node_signature: str = Field(pattern=_SIGNATURE)
    platform_signature: str | None = Field(default=None, pattern=_SIGNATURE)

    def unsigned(self) -> TrainingReceiptFields:
        return TrainingReceiptFields.model_validate(
            self.model_dump(include=set(TRAINING_RECEIPT_FIELDS))
        )


class TrainingReceiptError(ValueError):
    """A training receipt that cannot be countersigned; the message says why."""


def sign_training_receipt(fields: TrainingReceiptFields, key: NodeKey) -> TrainingReceipt:
    if fields.node_pubkey != key.public_hex:
        raise TrainingReceiptError("this node key is not the receipt's node_pubkey")
    signature = key.sign(fields.digest()).hex()
    return TrainingReceipt(**fields.model_dump(), id=fields.receipt_id(), node_signature=signature)


def check_node_signature(receipt: TrainingReceipt, node_pub: str) -> None:
    """Raise unless `receipt` is signed by `node_pub` and its id matches its contents."""
    fields = receipt.unsigned()
    if receipt.node_pubkey != parse_public_key(node_pub):
        raise TrainingReceiptError("the receipt names another node key than the one that signed")
    if receipt.id != fields.receipt_id():
        raise TrainingReceiptError("the receipt id does not match its contents")
    if not verify_schnorr(
        receipt.node_pubkey, fields.digest(), bytes.fromhex(receipt.node_signature)
    ):
        raise TrainingReceiptError("the node signature does not verify")


def countersign_training(receipt: TrainingReceipt, platform_key: NodeKey) -> TrainingReceipt:
    """The platform's signature, over the same digest (given once the shard is accepted)."""
    signature = platform_key.sign(receipt.unsigned().digest()).hex()
    return receipt.model_copy(update={"platform_signature": signature})


class ShardReport(_Wire):
    claim_id: str
    adapter_config: dict[str, Any]  # PEFT's adapter_config.json
    eval_loss_before: float = Field(ge=0, allow_inf_nan=False)
    eval_loss_after: float = Field(ge=0, allow_inf_nan=False)
    steps: int = Field(ge=0, le=100_000_000)
    receipt: TrainingReceipt


class ReportAccepted(_Wire):
    claim_id: str
    status: str  # "reported": waiting for the verifier
