"""Payouts (Book §8.5): an operator claims its unclaimed earnings to a chain address.

A claim moves the whole unclaimed balance from `earnings:<owner>` to
`payout_pending:<owner>` in the ledger and records a payout request. Sending it on-chain
is a `SettlementAdapter`'s job (`redeem` the pending receipts, `withdraw`, wait for the
confirmation). No adapter is configured in this build (no chain is reachable from here),
so a claim stays `pending` and says so; nothing pretends a transfer happened. Claims
below the chain's minimum (Base 1.00, Ethereum 10.00, ...) are refused before any
ledger movement.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.money.ledger import Ledger
from infernet.controlplane.store import payouts as store
from infernet.controlplane.store import receipts as receipt_store
from infernet.controlplane.store.ids import new_id, utcnow
from infernet.protocol.chains import chain
from infernet.protocol.money import show, to_micros

PENDING_DETAIL = (
    "pending: settlement is ledger-only until an adapter is configured (no chain is "
    "reachable from this control plane); the amount is reserved for you in the ledger"
)


class PayoutRefused(Exception):
    """A claim that cannot be made; the message says what to do."""


class SettlementAdapter(Protocol):
    """Sends a recorded payout on-chain and reports its transaction hash."""

    async def submit(self, payout: store.PayoutRow) -> str: ...


@dataclass(frozen=True, slots=True)
class Claim:
    payout: store.PayoutRow
    amount: Decimal


class Payouts:
    def __init__(
        self, db: AsyncEngine, ledger: Ledger, adapter: SettlementAdapter | None = None
    ) -> None:
        self._db, self._ledger, self.adapter = db, ledger, adapter

    async def unclaimed(self, owner: str) -> Decimal:
        return await self._ledger.balance(accounts.earnings(owner))

    async def claim(self, owner: str, node_ids: list[str], network: str | None = None) -> Claim:
        destination = await self._destination(owner, network)
        amount = await self.unclaimed(owner)
        minimum = chain(destination.network).min_payout
        if amount < minimum:
            raise PayoutRefused(
                f"Unclaimed balance {show(amount)} USDC is below the {destination.network} "
                f"minimum payout of {show(minimum)} USDC; nothing was claimed."
            )
        row = store.PayoutRow(
            new_id("payout"),
            owner,
            to_micros(amount),
            destination.coin,
            destination.network,
            destination.address,
            "pending",
            PENDING_DETAIL,
            None,
            utcnow(),
        )

        async def record(conn: AsyncConnection) -> None:
            await store.insert_request(conn, row)
            await receipt_store.mark_claimed(conn, node_ids)

        moves = [(accounts.earnings(owner), -amount), (accounts.payout_pending(owner), amount)]
        await self._ledger.post(
            "payout_request",
            f"payout:{row.id}",
            moves,
            memo=f"payout to {destination.network}:{destination.address}",
            extra=record,
        )
        return Claim(row, amount)

    async def _destination(self, owner: str, network: str | None) -> store.Destination:
        found = await store.destinations(self._db, owner)
        if network is not None:
            found = [d for d in found if d.network == network]
        if not found:
            where = f" on {network}" if network else ""
            raise PayoutRefused(
                f"No payout address{where} is set. Set one with "
                "`infernet payout set --coin USDC --network base --address 0x...`."
            )
        return found[0]
