"""Client balances, deposits, ledger entries and client keys (api/billing.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

LEDGER_ONLY = (
    "Ledger-only credit: no chain is reachable from this control plane, so no USDC moved "
    "on-chain; the amount was added to your balance in the ledger."
)


class DepositCreate(BaseModel):
    amount: str = Field(description='USDC, as a decimal string, e.g. "10.00"')


class Balance(BaseModel):
    currency: str = "USDC"
    available: str
    held: str
    minimum_to_submit: str


class DepositPublic(BaseModel):
    id: str
    amount: str
    settlement: str = "ledger-only"
    message: str = LEDGER_ONLY
    balance: Balance


class EntryPublic(BaseModel):
    transaction_id: str
    kind: str
    account: str
    amount: str
    job_id: str | None
    memo: str
    usage_source: str | None
    created_at: str


class EntryList(BaseModel):
    entries: list[EntryPublic]


class ClientKey(BaseModel):
    public_key: str
