"""On-chain deposits and deposit addresses (api/deposits.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field


def chain_deposits_only(network: str | None, confirmations: int) -> str:
    """Why the ledger-credit form is refused when deposits are real USDC."""
    return (
        f"Deposits on this control plane are USDC on {network}: send them to your deposit "
        "address (GET /api/v1/billing/deposit-address, or Billing in the dashboard); each "
        f"is credited after {confirmations} confirmations. No ledger-only credit is given."
    )


class DepositAddress(BaseModel):
    settlement: str = Field(description='"ledger" (no chain) or "evm"')
    network: str | None
    address: str | None = Field(description="Send USDC here; null: no chain deposits")
    token_contract: str | None = Field(description="The USDC contract on that network")
    confirmations: int = Field(description="Blocks on top before a deposit is credited")
    payment_uri: str | None = Field(description="EIP-681 URI, for a wallet's QR scanner")
    note: str


class ChainDepositPublic(BaseModel):
    network: str
    tx_hash: str
    block_number: int
    amount: str
    sender: str
    address: str = Field(description="The deposit address it was sent to")
    state: str = Field(description="unconfirmed | credited | reversed | dropped")
    confirmations: int | None = Field(
        description="Seen so far while unconfirmed; null once decided (credited means it "
        "had at least confirmations_required)"
    )
    confirmations_required: int
    detail: str
    seen_at: str
    updated_at: str


class DepositList(BaseModel):
    settlement: str
    network: str | None
    deposits: list[ChainDepositPublic]
    note: str = ""
