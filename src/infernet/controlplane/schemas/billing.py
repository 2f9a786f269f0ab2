"""Client balances, deposits, ledger entries and client keys (api/billing.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

LEDGER_ONLY = (
    "Ledger-only credit: no chain is reachable from this control plane, so no USDC moved "
    "on-chain; the amount was added to your balance in the ledger."
)


class DepositCreate(BaseModel):
    amount: str = Field(
        max_length=64,
        json_schema_extra={"format": "decimal"},
        description='USDC, as a decimal string of ASCII digits, e.g. "10.00" (at most 6 '
        "decimal places; no exponent, spaces or separators)",
    )
    account_id: str | None = Field(
        default=None,
        max_length=40,
        description="The account to credit (platform admins only); default: your own",
    )


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
