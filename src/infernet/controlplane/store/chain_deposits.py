"""Deposit addresses, the deposit watcher's checkpoints, and the deposits it saw.

Writes that go with a ledger credit or reversal take the caller's connection, so the
ledger transaction and the deposit row commit together (money/settlement_store.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.settlement_tables import (
    chain_checkpoints,
    chain_deposits,
    deposit_addresses,
)
from infernet.controlplane.store.upsert import upsert
from infernet.settlement.records import ChainTransfer, Checkpoint, DepositRecord, DepositState

ADDRESS_TRIES = 20  # another account taking the same next index is rare; give up loudly
DROPPED = "its block left the chain before it was confirmed"


@dataclass(frozen=True, slots=True)
class DepositRow:
    """A deposit as the store keeps it: the record, its ledger key, and when."""

    record: DepositRecord
    ledger_key: str | None
    credits: int
    created_at: datetime
    updated_at: datetime


async def deposit_address(
    db: AsyncEngine, network: str, account_id: str, derive: Callable[[int], str]
) -> str:
    t = deposit_addresses
    mine = (t.c.network == network, t.c.account_id == account_id)
    for _ in range(ADDRESS_TRIES):
        try:
            async with db.begin() as conn:
                found = (await conn.execute(select(t.c.address).where(*mine))).scalar()
                if found is not None:
                    return str(found)
                query = select(func.coalesce(func.max(t.c.idx) + 1, 0)).where(
                    t.c.network == network
                )
                index = int((await conn.execute(query)).scalar_one())
                address = derive(index)
                await conn.execute(
                    insert(t).values(
                        network=network,
                        account_id=account_id,
                        idx=index,
                        address=address,
                        created_at=utcnow(),
                    )
                )
                return address
        except IntegrityError:  # the index (or this account) was taken meanwhile: again
            continue
    raise RuntimeError(f"no free deposit address index on {network} after {ADDRESS_TRIES} tries")


async def watched(db: AsyncEngine, network: str) -> dict[str, str]:
    t = deposit_addresses
    async with db.connect() as conn:
        rows = await conn.execute(select(t.c.address, t.c.account_id).where(t.c.network == network))
        return {str(r.address).lower(): str(r.account_id) for r in rows}


async def address_of(db: AsyncEngine, network: str, account_id: str) -> str | None:
    t = deposit_addresses
    query = select(t.c.address).where(t.c.network == network, t.c.account_id == account_id)
    async with db.connect() as conn:
        found = (await conn.execute(query)).scalar()
    return None if found is None else str(found)


async def checkpoints(db: AsyncEngine, network: str, limit: int) -> list[Checkpoint]:
    t = chain_checkpoints
    query = select(t).where(t.c.network == network).order_by(t.c.number.desc()).limit(limit)
    async with db.connect() as conn:
        return [Checkpoint(int(r.number), str(r.hash)) for r in await conn.execute(query)]


async def advance(db: AsyncEngine, network: str, checkpoint: Checkpoint, keep: int) -> None:
    t = chain_checkpoints
    async with db.begin() as conn:
        values = {"network": network, "number": checkpoint.number, "hash": checkpoint.hash}
        await upsert(conn, t, values, ["network", "number"], ["hash"])
        oldest_kept = (
            select(t.c.number)
            .where(t.c.network == network)
            .order_by(t.c.number.desc())
            .offset(keep - 1)
            .limit(1)
        )
        floor = (await conn.execute(oldest_kept)).scalar()
        if floor is not None:
            await conn.execute(delete(t).where(t.c.network == network, t.c.number < floor))


async def rewind(db: AsyncEngine, network: str, to: Checkpoint | None) -> None:
    t = chain_checkpoints
    above = -1 if to is None else to.number
    async with db.begin() as conn:
        await conn.execute(delete(t).where(t.c.network == network, t.c.number > above))


def _record(r: Any) -> DepositRecord:
    transfer = ChainTransfer(
        r.network,
        r.tx_hash,
        int(r.position),
        Checkpoint(int(r.block_number), r.block_hash),
        r.sender,
        r.recipient,
        int(r.micros),
    )
    return DepositRecord(
        transfer, r.account_id, DepositState(r.state), int(r.confirmations), r.detail
    )


def _row(r: Any) -> DepositRow:
    return DepositRow(_record(r), r.ledger_key, int(r.credits), r.created_at, r.updated_at)


async def deposit(conn: AsyncConnection, key: str) -> DepositRow | None:
    found = (await conn.execute(select(chain_deposits).where(chain_deposits.c.key == key))).first()
    return None if found is None else _row(found)


def _transfer_values(t: ChainTransfer) -> dict[str, Any]:
    return {
        "network": t.network,
        "tx_hash": t.tx_hash,
        "position": t.position,
        "block_number": t.block.number,
        "block_hash": t.block.hash,
        "sender": t.sender,
        "recipient": t.recipient,
        "micros": t.micros,
    }


async def write(
    conn: AsyncConnection,
    transfer: ChainTransfer,
    account_id: str,
    state: DepositState,
    **fields: Any,
) -> None:
    """Insert or replace the deposit's row (`fields`: confirmations, detail, ledger_key,
    credits; absent ones keep their value, or their default on insert)."""
    now = utcnow()
    changes = {
        **_transfer_values(transfer),
        "account_id": account_id,
        "state": state.value,
        "updated_at": now,
        **fields,
    }
    defaults = {"confirmations": 0, "detail": "", "ledger_key": None, "credits": 0}
    values = {"key": transfer.key, "created_at": now, **defaults, **changes}
    await upsert(conn, chain_deposits, values, ["key"], list(changes))


async def move(conn: AsyncConnection, old: ChainTransfer, new: ChainTransfer) -> None:
    statement = (
        update(chain_deposits)
        .where(chain_deposits.c.key == old.key)
        .values(key=new.key, updated_at=utcnow(), **_transfer_values(new))
    )
    await conn.execute(statement)


async def set_state(conn: AsyncConnection, key: str, state: DepositState, detail: str) -> None:
    statement = (
        update(chain_deposits)
        .where(chain_deposits.c.key == key)
        .values(state=state.value, detail=detail, updated_at=utcnow())
    )
    await conn.execute(statement)


async def replace_unconfirmed(
    db: AsyncEngine, network: str, seen: list[tuple[ChainTransfer, str, int]]
) -> None:
    t = chain_deposits
    async with db.begin() as conn:
        await conn.execute(
            update(t)
            .where(t.c.network == network, t.c.state == DepositState.UNCONFIRMED.value)
            .values(state=DepositState.DROPPED.value, detail=DROPPED, updated_at=utcnow())
        )
        for transfer, account, confirmations in seen:
            found = await deposit(conn, transfer.key)
            if found is None or found.record.state is DepositState.DROPPED:
                await write(
                    conn,
                    transfer,
                    account,
                    DepositState.UNCONFIRMED,
                    confirmations=confirmations,
                    detail="",
                )


async def deposits(
    db: AsyncEngine, network: str, states: Collection[DepositState], since_block: int = 0
) -> list[DepositRecord]:
    t = chain_deposits
    query = (
        select(t)
        .where(
            t.c.network == network,
            t.c.state.in_([s.value for s in states]),
            t.c.block_number >= since_block,
        )
        .order_by(t.c.block_number, t.c.position)
    )
    async with db.connect() as conn:
        return [_record(r) for r in await conn.execute(query)]


async def deposits_of(db: AsyncEngine, account_id: str, limit: int = 100) -> list[DepositRow]:
    """An account's deposits on every network, newest first."""
    t = chain_deposits
    query = (
        select(t)
        .where(t.c.account_id == account_id)
        .order_by(t.c.block_number.desc(), t.c.position.desc())
        .limit(limit)
    )
    async with db.connect() as conn:
        return [_row(r) for r in await conn.execute(query)]
