"""Operators' earnings, payout destinations and claims (api/payouts.py)."""

from __future__ import annotations

from pydantic import BaseModel


class RecentJob(BaseModel):
    job_id: str
    receipt_id: str
    model: str
    tokens: int
    earned: str
    usage_source: str
    completed_at: str


class Summary(BaseModel):
    owner: str
    currency: str = "USDC"
    unclaimed: str
    pending_payout: str
    paid_out: str
    recent: list[RecentJob]
    today_jobs: int
    today_earned: str


class AddressSet(BaseModel):
    coin: str = "USDC"
    network: str = "base"
    address: str


class DestinationPublic(BaseModel):
    coin: str
    network: str
    address: str
    min_payout: str
    updated_at: str


class PayoutPublic(BaseModel):
    id: str
    amount: str
    coin: str
    network: str
    address: str
    status: str
    detail: str
    tx_hash: str | None
    created_at: str
    block_number: int | None = None
    confirmed_at: str | None = None


class PayoutList(BaseModel):
    destinations: list[DestinationPublic]
    payouts: list[PayoutPublic]


class ClaimCreate(BaseModel):
    network: str | None = None
