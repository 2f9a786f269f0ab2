"""Payouts (Book §8.5): an operator claims its unclaimed earnings to a chain address.

A claim moves the whole unclaimed balance from `earnings:<owner>` to
`payout_pending:<owner>` in the ledger and records a payout request (`pending`). Paying
it is the settlement's job (settlement/base.py): with `--settlement evm` the payer sends
the USDC from the hot wallet on its next tick, and the request moves to `sent` and
`confirmed` with its transaction hash (money/settlement_store.py); with `--settlement
ledger` no chain is involved, the claim stays `pending` and says so, and nothing
pretends a transfer happened. Claims below the chain's minimum (Base 1.00, Ethereum
10.00, ...) are refused before any ledger movement, as are claims to a chain this
control plane does not pay on.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.money.ledger import Ledger
from infernet.controlplane.store import payouts as store
from infernet.controlplane.store import receipts as receipt_store
from infernet.controlplane.store.ids import new_id, utcnow
from infernet.protocol.chains import chain
from infernet.protocol.money import show, to_micros

LEDGER_ONLY_DETAIL = (
    "pending: settlement is ledger-only on this control plane (no chain is connected); "
    "the amount is reserved for you in the ledger"
)


def queued_detail(network: str) -> str:
    return f"pending: queued for the next USDC payout on {network}"


class PayoutRefused(Exception):
    """A claim that cannot be made; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Claim:
    payout: store.PayoutRow
    amount: Decimal


class Payouts:
    def __init__(self, db: AsyncEngine, ledger: Ledger, settles_on: str | None = None) -> None:
        """`settles_on`: the chain the settlement pays on (None: ledger-only)."""
        self._db, self._ledger, self.settles_on = db, ledger, settles_on

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
            queued_detail(destination.network) if self.settles_on else LEDGER_ONLY_DETAIL,
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
        if self.settles_on is not None and network not in (None, self.settles_on):
            raise PayoutRefused(
                f"This control plane pays out on {self.settles_on} only; claim with "
                f"--network {self.settles_on}. Nothing was claimed."
            )
        network = network or self.settles_on
        found = await store.destinations(self._db, owner)
        if network is not None:
            found = [d for d in found if d.network == network]
        if not found:
            where = f" on {network}" if network else ""
            raise PayoutRefused(
                f"No payout address{where} is set. Set one with "
                f"`infernet payout set --coin USDC --network {network or 'base'} "
                "--address 0x...`."
            )
        return found[0]
