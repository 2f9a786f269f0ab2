"""The control plane's settlement store (money/settlement_store.py) on a real database,
with what the tests need besides: balances, counts of ledger transactions, claims made
as `Payouts.claim` records them, and a way to plant a difference."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.money.ledger import Ledger
from infernet.controlplane.money.settlement_store import DbSettlementStore
from infernet.controlplane.store import payout_attempts as payout_rows
from infernet.controlplane.store.db import open_database
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.payouts import PayoutRow, insert_request
from infernet.controlplane.store.settlement_tables import payout_attempts
from infernet.controlplane.store.tables import ledger_transactions, payout_requests
from infernet.protocol.money import from_micros, to_micros
from infernet.settlement.records import Attempt, Claim


def available(account_id: str) -> str:
    return accounts.client_available(account_id)


class StoreUnderTest(DbSettlementStore):
    def __init__(self, db: AsyncEngine) -> None:
        self.db, self.ledger = db, Ledger(db)
        super().__init__(db, self.ledger)

    @classmethod
    async def open(cls, url: str) -> StoreUnderTest:
        return cls(await open_database(url))

    async def close(self) -> None:
        await self.db.dispose()

    async def balance(self, account: str) -> int:
        return to_micros(await self.ledger.balance(account))

    async def posted(self, kind: str) -> int:
        query = select(func.count()).where(ledger_transactions.c.kind == kind)
        async with self.db.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def add_claim(
        self, claim_id: str, owner: str, network: str, address: str, micros: int
    ) -> None:
        """What `Payouts.claim` records: earnings -> payout_pending, and the request."""
        amount = from_micros(micros)
        earned = [("external:test_earnings", -amount), (accounts.earnings(owner), amount)]
        await self.ledger.post("test_earning", f"earned:{claim_id}", earned)
        row = PayoutRow(
            claim_id, owner, micros, "USDC", network, address, "pending", "", None, utcnow()
        )

        async def record(conn: AsyncConnection) -> None:
            await insert_request(conn, row)

        moves = [(accounts.earnings(owner), -amount), (accounts.payout_pending(owner), amount)]
        await self.ledger.post("payout_request", f"payout:{claim_id}", moves, extra=record)

    async def claim(self, claim_id: str) -> Claim:
        async with self.db.connect() as conn:
            found = await payout_rows.claim(conn, claim_id)
        assert found is not None, claim_id
        return found

    async def all_attempts(self, claim_id: str) -> list[Attempt]:
        return await payout_rows.attempts_of(self.db, claim_id)

    async def nonces(self) -> list[int]:
        async with self.db.connect() as conn:
            rows = await conn.execute(select(payout_attempts.c.nonce))
            return sorted(int(r.nonce) for r in rows)

    async def hold(self, account_id: str, micros: int) -> None:
        """The client spends: `micros` of its balance held for a job."""
        amount = Decimal(from_micros(micros))
        moves = [(available(account_id), -amount), (accounts.client_held(account_id), amount)]
        await self.ledger.post("hold", f"hold:{account_id}:{micros}", moves)

    async def plant_claim_amount(self, claim_id: str, micros: int) -> None:
        """A wrong record, for reconciliation to find."""
        statement = update(payout_requests).where(payout_requests.c.id == claim_id)
        async with self.db.begin() as conn:
            await conn.execute(statement.values(micros=micros))
