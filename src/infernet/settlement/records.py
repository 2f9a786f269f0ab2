"""What settlement records, chain-neutral: blocks, token transfers, deposits, payout claims
and the transactions sent for them.

Amounts are integer micro-USDC: USDC has 6 decimals on every chain we support, so one
token base unit is one ledger micro (the EVM adapter refuses a token with other decimals).
Names are chosen so that Solana fits: a `Checkpoint` is a block or a slot, `position` is a
log index or an instruction index, an `Attempt`'s `nonce` is the EVM account nonce (a
Solana adapter would keep the blockhash it expires with in `expires_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A block the chain had when we looked: its height and hash (0x-hex)."""

    number: int
    hash: str


@dataclass(frozen=True, slots=True)
class ChainTransfer:
    """One USDC transfer as the chain reports it."""

    network: str
    tx_hash: str
    position: int  # the log's index in its block
    block: Checkpoint
    sender: str
    recipient: str
    micros: int

    @property
    def key(self) -> str:
        """Identity of the transfer, stable when a re-org moves it to another block."""
        return f"{self.network}:{self.tx_hash}:{self.position}"


class DepositState(StrEnum):
    UNCONFIRMED = "unconfirmed"  # seen in a block with fewer confirmations than required
    CREDITED = "credited"  # in the ledger: spendable
    REVERSED = "reversed"  # credited, then its block vanished (re-org): taken back
    DROPPED = "dropped"  # seen unconfirmed, then its block vanished: never credited


@dataclass(frozen=True, slots=True)
class DepositRecord:
    transfer: ChainTransfer
    account_id: str
    state: DepositState
    confirmations: int
    detail: str


@dataclass(frozen=True, slots=True)
class Reversal:
    """What reversing a credit took back; `shortfall` had been spent already and is booked
    as a credit loss."""

    reversed_micros: int
    shortfall_micros: int


class ClaimStatus(StrEnum):
    """The control plane's payout_requests.status values."""

    PENDING = "pending"  # claimed; not sent (its detail says why it waits)
    SENT = "sent"  # a transaction is out; waiting for it to be mined and confirmed
    CONFIRMED = "confirmed"  # paid: the transfer has the required confirmations
    FAILED = "failed"  # will not be paid by the adapter (the detail says why)


@dataclass(frozen=True, slots=True)
class Claim:
    """A payout request: `micros` USDC to `address` on `network`."""

    id: str
    owner: str
    network: str
    address: str
    micros: int
    status: ClaimStatus
    detail: str
    tx_hash: str | None


class AttemptState(StrEnum):
    SIGNED = "signed"  # stored before sending; the node may or may not have it
    SENT = "sent"  # the node accepted it (it can still be mined until its nonce is used)
    CONFIRMED = "confirmed"  # mined, succeeded, confirmed: this one paid the claim
    REVERTED = "reverted"  # mined and failed: its nonce is used, nothing moved
    DEAD = "dead"  # can never be mined: its nonce was used by another transaction

    @property
    def open(self) -> bool:
        return self in (AttemptState.SIGNED, AttemptState.SENT)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One signed transaction paying one claim. Attempts of a claim share its nonce (a
    replacement with a higher fee), so at most one of them can ever be mined."""

    claim_id: str
    network: str
    sender: str
    nonce: int
    tx_hash: str
    raw: str  # the signed transaction, 0x-hex, so it can be re-broadcast after a crash
    gas: int
    max_fee: int  # wei per gas
    priority_fee: int  # wei per gas
    created_block: int  # the chain head when it was signed (to tell a stuck one)
    state: AttemptState = AttemptState.SIGNED
