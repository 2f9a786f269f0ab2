"""The double-entry ledger: every movement of money is one transaction whose postings sum
to zero across accounts, and no internal account ever goes below zero.

Accounts (strings, so a reader of the database sees what each is):

    client:<account>:available    a client's spendable balance
    client:<account>:held         escrow: the maximum cost of its running jobs
    earnings:<owner>              an operator's unclaimed earnings (owner = the account that
                                  owns the node, or the node id for a node no account owns)
    payout_pending:<owner>        earnings claimed, waiting for on-chain settlement
    platform:fees                 the platform's 15 %
    external:deposits             money that came in from outside (goes negative by design:
                                  it mirrors what entered the system)
    external:payouts              money that left to a chain
    external:credit_losses        a charge the client could not cover (see billing.py)

Only `external:*` accounts may be negative. The sum over *all* accounts is always zero, so
money is conserved: internal money = -(external balances).

Each transaction carries an idempotency key (`hold:<job>`, `final:<job>`, ...): posting a
key that exists already does nothing, so a retried or duplicated call can never move money
twice. This holds across control-plane replicas sharing one database: the key is unique
in the table, and the transaction row is inserted first, so of two replicas posting one
key at once the second waits for the first and then finds the key posted. The overdraft
check is the database's too (store/ledger.py: a conditional update of the balance row,
under its row lock), never a balance read earlier. Within one process writes also take
a lock, so SQLite (one writer) never sees two at once.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store import ledger as store
from infernet.controlplane.store.ids import new_id, utcnow
from infernet.protocol.money import from_micros, to_micros

PLATFORM_FEES = "platform:fees"
EXTERNAL_DEPOSITS = "external:deposits"
EXTERNAL_PAYOUTS = "external:payouts"
EXTERNAL_CREDIT_LOSSES = "external:credit_losses"

Extra = Callable[[AsyncConnection], Awaitable[None]]


def client_available(account_id: str) -> str:
    return f"client:{account_id}:available"


def client_held(account_id: str) -> str:
    return f"client:{account_id}:held"


def earnings(owner: str) -> str:
    return f"earnings:{owner}"


def payout_pending(owner: str) -> str:
    return f"payout_pending:{owner}"


def is_external(account: str) -> bool:
    return account.startswith("external:")


class LedgerError(Exception):
    """A transaction that must not be posted (unbalanced, or it would overdraw)."""


class Overdraft(LedgerError):
    def __init__(self, account: str, balance: Decimal, change: Decimal) -> None:
        super().__init__(f"{account} holds {balance} USDC; cannot take {-change}")
        self.account, self.balance, self.change = account, balance, change


@dataclass(frozen=True, slots=True)
class Entry:
    """One posting as the owner of an account sees it."""

    transaction_id: str
    kind: str
    job_id: str | None
    account: str
    amount: Decimal
    memo: str
    usage_source: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class _Header:
    """What a transaction row says besides its postings."""

    kind: str
    idempotency_key: str
    job_id: str | None
    memo: str
    usage_source: str | None


def merge(postings: Iterable[tuple[str, Decimal]]) -> list[tuple[str, int]]:
    """Postings per account in micro-USDC, zero ones dropped, in a stable order."""
    totals: dict[str, int] = defaultdict(int)
    for account, amount in postings:
        totals[account] += to_micros(amount)
    return sorted((a, m) for a, m in totals.items() if m)


class Ledger:
    def __init__(self, db: AsyncEngine) -> None:
        self._db = db
        self._lock = asyncio.Lock()

    async def post(
        self,
        kind: str,
        idempotency_key: str,
        postings: Iterable[tuple[str, Decimal]],
        *,
        job_id: str | None = None,
        memo: str = "",
        usage_source: str | None = None,
        extra: Extra | None = None,
    ) -> str | None:
        """Post one balanced transaction; its id, or None if the key was posted before.

        `extra` runs in the same database transaction (e.g. storing the receipts a
        settlement pays for), so either both are written or neither.
        """
        rows = merge(postings)
        if sum(m for _, m in rows) != 0:
            raise LedgerError(f"transaction {idempotency_key} does not balance: {rows}")
        header = _Header(kind, idempotency_key, job_id, memo, usage_source)
        try:
            async with self._lock:
                return await self._post(header, rows, extra)
        except IntegrityError:
            if await self.posted(idempotency_key):  # another replica posted it meanwhile
                return None
            raise

    async def _post(
        self, header: _Header, rows: list[tuple[str, int]], extra: Extra | None
    ) -> str | None:
        async with self._db.begin() as conn:
            if await store.transaction_exists(conn, header.idempotency_key):
                return None
            transaction_id = new_id("txn")
            await store.insert_transaction(
                conn,
                transaction_id=transaction_id,
                kind=header.kind,
                idempotency_key=header.idempotency_key,
                job_id=header.job_id,
                memo=header.memo,
                usage_source=header.usage_source,
                created_at=utcnow(),
                postings=rows,
            )
            guarded = {a for a, _ in rows if not is_external(a)}
            if overdrawn := await store.apply_to_balances(conn, rows, guarded):
                balance = (await store.balances_in(conn, [overdrawn]))[overdrawn]
                change = dict(rows)[overdrawn]
                raise Overdraft(overdrawn, from_micros(balance), from_micros(change))
            if extra is not None:
                await extra(conn)
            return transaction_id

    async def posted(self, idempotency_key: str) -> bool:
        async with self._db.connect() as conn:
            return await store.transaction_exists(conn, idempotency_key)

    async def balance(self, account: str) -> Decimal:
        return (await self.balances([account]))[account]

    async def balances(self, accounts: Iterable[str]) -> dict[str, Decimal]:
        async with self._db.connect() as conn:
            found = await store.balances_in(conn, accounts)
        return {a: from_micros(m) for a, m in found.items()}

    async def job_total(self, job_id: str, account: str) -> Decimal:
        """What the transactions of one job moved into `account` (e.g. its hold)."""
        async with self._db.connect() as conn:
            return from_micros(await store.job_account_total(conn, job_id, account))

    async def entries(self, accounts: Iterable[str], limit: int = 100) -> list[Entry]:
        rows = await store.postings_for(self._db, list(accounts), limit)
        return [
            Entry(
                r.transaction_id,
                r.kind,
                r.job_id,
                r.account,
                from_micros(r.micros),
                r.memo,
                r.usage_source,
                r.created_at,
            )
            for r in rows
        ]
