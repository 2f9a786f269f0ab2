"""Payout claims as settlement sees them (rows of payout_requests), the transactions sent
for them (payout_attempts), and the hot wallet's nonces.

A nonce is handed out by one statement (insert, or raise the stored one; returning it),
so two callers never get the same one, on SQLite or PostgreSQL, in one process or many.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import case, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.settlement_tables import hot_wallet_nonces, payout_attempts
from infernet.controlplane.store.tables import payout_requests
from infernet.controlplane.store.upsert import upsert_statement
from infernet.settlement.records import Attempt, AttemptState, Claim, ClaimStatus


def _claim(r: Any) -> Claim:
    return Claim(
        r.id,
        r.owner,
        r.network,
        r.address,
        int(r.micros),
        ClaimStatus(r.status),
        r.detail,
        r.tx_hash,
    )


async def claims(db: AsyncEngine, network: str, statuses: Collection[ClaimStatus]) -> list[Claim]:
    t = payout_requests
    query = (
        select(t)
        .where(t.c.network == network, t.c.status.in_([s.value for s in statuses]))
        .order_by(t.c.created_at, t.c.id)
    )
    async with db.connect() as conn:
        return [_claim(r) for r in await conn.execute(query)]


async def claim(conn: AsyncConnection, claim_id: str) -> Claim | None:
    found = (
        await conn.execute(select(payout_requests).where(payout_requests.c.id == claim_id))
    ).first()
    return None if found is None else _claim(found)


async def set_claim(conn: AsyncConnection, claim_id: str, **values: Any) -> None:
    """Set columns of one claim (status, detail, tx_hash, block_number, confirmed_at)."""
    statement = update(payout_requests).where(payout_requests.c.id == claim_id).values(**values)
    await conn.execute(statement)


async def set_detail(db: AsyncEngine, claim_id: str, detail: str) -> None:
    async with db.begin() as conn:
        await set_claim(conn, claim_id, detail=detail)


async def release(db: AsyncEngine, claim_id: str, detail: str) -> None:
    async with db.begin() as conn:
        await set_claim(conn, claim_id, status=ClaimStatus.PENDING.value, detail=detail)


async def next_nonce(db: AsyncEngine, network: str, sender: str, floor: int) -> int:
    t = hot_wallet_nonces
    raised = case((t.c.next > literal(floor), t.c.next), else_=literal(floor)) + 1
    async with db.begin() as conn:
        statement = upsert_statement(
            conn,
            t,
            {"network": network, "sender": sender, "next": floor + 1},
            ["network", "sender"],
            {"next": raised},
        ).returning(t.c.next)
        return int((await conn.execute(statement)).scalar_one()) - 1


async def peek_nonce(db: AsyncEngine, network: str, sender: str) -> int:
    t = hot_wallet_nonces
    query = select(t.c.next).where(t.c.network == network, t.c.sender == sender)
    async with db.connect() as conn:
        found = (await conn.execute(query)).scalar()
    return 0 if found is None else int(found)


async def add_attempt(db: AsyncEngine, attempt: Attempt) -> None:
    """Store the signed transaction and mark its claim sent, in one transaction."""
    a = attempt
    async with db.begin() as conn:
        await conn.execute(
            insert(payout_attempts).values(
                tx_hash=a.tx_hash,
                claim_id=a.claim_id,
                network=a.network,
                sender=a.sender,
                nonce=a.nonce,
                raw=a.raw,
                gas=a.gas,
                max_fee=a.max_fee,
                priority_fee=a.priority_fee,
                created_block=a.created_block,
                state=a.state.value,
                created_at=utcnow(),
            )
        )
        await set_claim(
            conn, a.claim_id, status=ClaimStatus.SENT.value, detail=f"sent: {a.tx_hash}"
        )


def _attempt(r: Any) -> Attempt:
    return Attempt(
        r.claim_id,
        r.network,
        r.sender,
        int(r.nonce),
        r.tx_hash,
        r.raw,
        int(r.gas),
        int(r.max_fee),
        int(r.priority_fee),
        int(r.created_block),
        AttemptState(r.state),
    )


async def attempts(
    db: AsyncEngine, network: str, states: Collection[AttemptState]
) -> list[Attempt]:
    t = payout_attempts
    query = (
        select(t)
        .where(t.c.network == network, t.c.state.in_([s.value for s in states]))
        .order_by(t.c.nonce, t.c.id)
    )
    async with db.connect() as conn:
        return [_attempt(r) for r in await conn.execute(query)]


async def attempts_of(db: AsyncEngine, claim_id: str) -> list[Attempt]:
    """Every transaction sent for one claim, oldest first."""
    t = payout_attempts
    query = select(t).where(t.c.claim_id == claim_id).order_by(t.c.id)
    async with db.connect() as conn:
        return [_attempt(r) for r in await conn.execute(query)]


async def set_attempt_state(db: AsyncEngine, tx_hash: str, state: AttemptState) -> None:
    t = payout_attempts
    async with db.begin() as conn:
        await conn.execute(update(t).where(t.c.tx_hash == tx_hash).values(state=state.value))


async def settle_attempts(conn: AsyncConnection, claim_id: str, paid_tx: str) -> None:
    """The claim is paid by `paid_tx`: it is confirmed, the claim's other open ones dead."""
    t = payout_attempts
    still_open = [AttemptState.SIGNED.value, AttemptState.SENT.value]
    await conn.execute(
        update(t)
        .where(t.c.claim_id == claim_id, t.c.state.in_(still_open), t.c.tx_hash != paid_tx)
        .values(state=AttemptState.DEAD.value)
    )
    await conn.execute(
        update(t).where(t.c.tx_hash == paid_tx).values(state=AttemptState.CONFIRMED.value)
    )
