"""Compute Payment Receipts and the platform key (api/receipts.py)."""

from __future__ import annotations

from pydantic import BaseModel


class PlatformKey(BaseModel):
    public_key: str
    npub: str


class CprPublic(BaseModel):
    id: str
    job_id: str
    node_pubkey: str
    client_pubkey: str | None
    model: str
    input_tokens: int
    output_tokens: int
    completed_at: str
    value_usdc: str
    chain: str
    node_signature: str
    platform_signature: str | None
    client_signature: str | None
    status: str  # countersigned | claimed
    usage_source: str  # backend | tokenizer: where the token counts came from
    node_id: str
    attempt: int
    platform_pubkey: str
    canonical_hash: str
    created_at: str


class ClientSignature(BaseModel):
    signature: str
