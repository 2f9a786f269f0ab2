"""`--settlement ledger`: today's behaviour, for demos and private networks.

No chain is involved. Deposits are ledger credits made by the control plane's deposit
form (POST /api/v1/billing/deposits); payout claims are recorded and stay `pending`, and
their detail says why. Reconciliation has nothing on a chain to compare and says so:
the ledger's own invariants (postings sum to zero) are checked by the ledger itself.
"""

from __future__ import annotations

from datetime import UTC, datetime

from infernet.settlement.base import DepositInstructions, TickReport
from infernet.settlement.reconcile import ReconciliationReport

LEDGER_ONLY_NOTE = (
    "Ledger-only settlement: deposits are credits in the ledger and payouts stay pending; "
    "no USDC moves on a chain."
)


class LedgerSettlement:
    mode = "ledger"
    network: str | None = None
    confirmations = 0

    async def check(self) -> str:
        return LEDGER_ONLY_NOTE

    async def start(self) -> ReconciliationReport:
        return await self.reconcile()

    async def tick(self) -> TickReport:
        return TickReport()

    async def reconcile(self) -> ReconciliationReport:
        return ReconciliationReport(
            network="ledger",
            checked_at=datetime.now(UTC),
            from_block=None,
            to_block=None,
            note=LEDGER_ONLY_NOTE,
        )

    async def deposit_instructions(self, account_id: str) -> DepositInstructions:
        return DepositInstructions(
            mode=self.mode,
            network=None,
            address=None,
            token_contract=None,
            confirmations=0,
            payment_uri=None,
            note=LEDGER_ONLY_NOTE,
        )

    async def close(self) -> None:
        return None
