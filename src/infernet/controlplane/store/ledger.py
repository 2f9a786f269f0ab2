"""Ledger rows: transactions, their postings, and the running balance of every account.

Only `controlplane.ledger.Ledger` writes here; it checks that postings balance. That no
internal account goes below zero is decided by the database, not by an earlier read: a
debit is one conditional `UPDATE … SET micros = micros + :m WHERE micros + :m >= 0`, which
on PostgreSQL waits for any other transaction holding that balance row and re-checks the
condition on the row it committed, so replicas sharing the database can never overdraw an
account between them. Balance rows are created by an insert that ignores one created
meanwhile, and touched in account order, so two transactions never deadlock on them.
Amounts are integer micro-USDC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store.tables import (
    ledger_balances,
    ledger_postings,
    ledger_transactions,
)


@dataclass(frozen=True, slots=True)
class PostingRow:
    transaction_id: str
    kind: str
    job_id: str | None
    memo: str
    usage_source: str | None
    created_at: datetime
    account: str
    micros: int


async def transaction_exists(conn: AsyncConnection, idempotency_key: str) -> bool:
    query = select(ledger_transactions.c.id).where(
        ledger_transactions.c.idempotency_key == idempotency_key
    )
    return (await conn.execute(query)).first() is not None


async def balances_in(conn: AsyncConnection, accounts: Iterable[str]) -> dict[str, int]:
    names = list(accounts)
    query = select(ledger_balances.c.account, ledger_balances.c.micros).where(
        ledger_balances.c.account.in_(names)
    )
    found = {row.account: int(row.micros) for row in await conn.execute(query)}
    return {name: found.get(name, 0) for name in names}


async def insert_transaction(
    conn: AsyncConnection,
    *,
    transaction_id: str,
    kind: str,
    idempotency_key: str,
    job_id: str | None,
    memo: str,
    usage_source: str | None,
    created_at: datetime,
    postings: Sequence[tuple[str, int]],
) -> None:
    """Insert the transaction and its postings. Its idempotency key is unique, so a second
    transaction with the same key (another replica's) waits for this one and then fails
    with IntegrityError; insert this first, before touching any balance."""
    await conn.execute(
        insert(ledger_transactions).values(
            id=transaction_id,
            kind=kind,
            idempotency_key=idempotency_key,
            job_id=job_id,
            memo=memo,
            usage_source=usage_source,
            created_at=created_at,
        )
    )
    if postings:  # none: recorded for its idempotency key only (e.g. a release of nothing)
        await conn.execute(
            insert(ledger_postings),
            [{"transaction_id": transaction_id, "account": a, "micros": m} for a, m in postings],
        )


async def apply_to_balances(
    conn: AsyncConnection, postings: Sequence[tuple[str, int]], guarded: set[str]
) -> str | None:
    """Add each posting to its account's running balance, in account order. A posting to
    an account in `guarded` that would take it below zero is not applied: returns that
    account (the caller must roll the transaction back), else None."""
    ordered = sorted(postings)
    if not ordered:
        return None
    await _create_missing(conn, [a for a, _ in ordered])
    for account, micros in ordered:
        statement = (
            update(ledger_balances)
            .where(ledger_balances.c.account == account)
            .values(micros=ledger_balances.c.micros + micros)
        )
        if micros < 0 and account in guarded:
            statement = statement.where(ledger_balances.c.micros + micros >= 0)
        if not (await conn.execute(statement)).rowcount:
            return account
    return None


async def _create_missing(conn: AsyncConnection, names: list[str]) -> None:
    """Zero balance rows for the accounts that have none yet (ignoring one another
    transaction creates meanwhile)."""
    rows = [{"account": name, "micros": 0} for name in names]
    if conn.dialect.name == "postgresql":
        pg = postgresql.insert(ledger_balances).values(rows)
        await conn.execute(pg.on_conflict_do_nothing(index_elements=["account"]))
    else:
        lite = sqlite.insert(ledger_balances).values(rows)
        await conn.execute(lite.on_conflict_do_nothing(index_elements=["account"]))


async def job_account_total(conn: AsyncConnection, job_id: str, account: str) -> int:
    """Net micro-USDC that transactions for `job_id` moved into `account`."""
    query = (
        select(func.coalesce(func.sum(ledger_postings.c.micros), 0))
        .select_from(ledger_postings.join(ledger_transactions))
        .where(ledger_transactions.c.job_id == job_id, ledger_postings.c.account == account)
    )
    return int((await conn.execute(query)).scalar_one())


async def postings_for(db: AsyncEngine, accounts: Sequence[str], limit: int) -> list[PostingRow]:
    t, p = ledger_transactions, ledger_postings
    query = (
        select(
            t.c.id,
            t.c.kind,
            t.c.job_id,
            t.c.memo,
            t.c.usage_source,
            t.c.created_at,
            p.c.account,
            p.c.micros,
        )
        .select_from(p.join(t))
        .where(p.c.account.in_(list(accounts)))
        .order_by(t.c.created_at.desc(), p.c.id.desc())
        .limit(limit)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        PostingRow(
            r.id, r.kind, r.job_id, r.memo, r.usage_source, r.created_at, r.account, int(r.micros)
        )
        for r in rows
    ]


async def all_balances(db: AsyncEngine) -> dict[str, int]:
    async with db.connect() as conn:
        rows = (await conn.execute(select(ledger_balances))).all()
    return {r.account: int(r.micros) for r in rows}


async def posting_sums(db: AsyncEngine) -> tuple[dict[str, int], dict[str, int]]:
    """(sum of postings per account, sum of postings per transaction): for audits."""
    p = ledger_postings
    async with db.connect() as conn:
        by_account = await conn.execute(
            select(p.c.account, func.sum(p.c.micros)).group_by(p.c.account)
        )
        by_txn = await conn.execute(
            select(p.c.transaction_id, func.sum(p.c.micros)).group_by(p.c.transaction_id)
        )
        return (
            {a: int(m) for a, m in by_account.all()},
            {t: int(m) for t, m in by_txn.all()},
        )


async def open_holds(db: AsyncEngine, before: datetime) -> list[tuple[str, str]]:
    """Jobs whose hold (posted before `before`) has no final movement yet, each with the
    escrow account it holds money in: (job id, account)."""
    t, p = ledger_transactions, ledger_postings
    final = ledger_transactions.alias("final")
    query = (
        select(t.c.job_id, p.c.account)
        .select_from(p.join(t))
        .where(
            t.c.kind == "hold",
            t.c.created_at < before,
            p.c.micros > 0,
            p.c.account.like("client:%:held"),
            ~exists().where(final.c.idempotency_key == literal("final:") + t.c.job_id),
        )
        .order_by(t.c.created_at)
    )
    async with db.connect() as conn:
        return [(str(r.job_id), str(r.account)) for r in (await conn.execute(query)).all()]
