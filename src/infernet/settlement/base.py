"""The settlement adapter interface: how money enters and leaves the ledger.

One `Settlement` per control plane, chosen by `--settlement`:

    ledger   (ledger_mode.py) today's behaviour, for demos and private networks: deposits
             are ledger credits, payouts stay pending, nothing touches a chain
    evm      (evm/adapter.py) USDC on Base, Ethereum, Polygon or Arbitrum
    solana   (next) SPL USDC; the records are chain-neutral (records.py) so it fits

The control plane calls `check` before it serves (settings, keys and the endpoint: a
clear error, nothing changed), `start` once on the replica that runs settlement (it
recovers in-flight payouts and reconciles), `tick` from that replica's background loop
(it watches deposits and moves payouts along), `reconcile` on demand and on a schedule,
and `deposit_instructions` for the dashboard's "Add funds".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from infernet.settlement.reconcile import ReconciliationReport


@dataclass(frozen=True, slots=True)
class DepositInstructions:
    """How an account adds funds. `address` None: ledger-only credits (the free form)."""

    mode: str
    network: str | None
    address: str | None
    token_contract: str | None
    confirmations: int
    payment_uri: str | None  # EIP-681 URI for a wallet's QR code scanner
    note: str


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one tick did, for logs and metrics."""

    head: int | None = None
    credited: int = 0
    reversed: int = 0
    unconfirmed: int = 0
    sent: int = 0
    confirmed: int = 0
    waiting: dict[str, str] = field(default_factory=dict)  # claim id -> why it waits
    errors: list[str] = field(default_factory=list)  # a part that failed this tick, and why


class Settlement(Protocol):
    @property
    def mode(self) -> str: ...

    @property
    def network(self) -> str | None: ...  # the chain it settles on (None: ledger-only)

    @property
    def confirmations(self) -> int: ...  # blocks a deposit or payout needs (0: no chain)

    async def check(self) -> str: ...

    async def start(self) -> ReconciliationReport: ...

    async def tick(self) -> TickReport: ...

    async def reconcile(self) -> ReconciliationReport: ...

    async def deposit_instructions(self, account_id: str) -> DepositInstructions: ...

    async def close(self) -> None: ...
