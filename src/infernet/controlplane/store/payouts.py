"""Payout destinations (per owner, coin and network) and payout requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.tables import payout_addresses, payout_requests


@dataclass(frozen=True, slots=True)
class Destination:
    coin: str
    network: str
    address: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PayoutRow:
    id: str
    owner: str
    micros: int
    coin: str
    network: str
    address: str
    status: str
    detail: str
    tx_hash: str | None
    created_at: datetime
    block_number: int | None = None  # on chain: the block that paid it
    confirmed_at: datetime | None = None


async def set_destination(
    db: AsyncEngine, owner: str, coin: str, network: str, address: str
) -> None:
    where = (
        payout_addresses.c.owner == owner,
        payout_addresses.c.coin == coin,
        payout_addresses.c.network == network,
    )
    async with db.begin() as conn:
        result = await conn.execute(
            update(payout_addresses).where(*where).values(address=address, updated_at=utcnow())
        )
        if not result.rowcount:
            await conn.execute(
                insert(payout_addresses).values(
                    owner=owner, coin=coin, network=network, address=address, updated_at=utcnow()
                )
            )


async def destinations(db: AsyncEngine, owner: str) -> list[Destination]:
    query = (
        select(payout_addresses)
        .where(payout_addresses.c.owner == owner)
        .order_by(payout_addresses.c.updated_at.desc())
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [Destination(r.coin, r.network, r.address, r.updated_at) for r in rows]


async def default_destination(db: AsyncEngine, owner: str) -> Destination | None:
    """The destination set most recently."""
    found = await destinations(db, owner)
    return found[0] if found else None


async def insert_request(conn: AsyncConnection, row: PayoutRow) -> None:
    await conn.execute(
        insert(payout_requests).values(
            id=row.id,
            owner=row.owner,
            micros=row.micros,
            coin=row.coin,
            network=row.network,
            address=row.address,
            status=row.status,
            detail=row.detail,
            tx_hash=row.tx_hash,
            created_at=row.created_at,
        )
    )


async def requests_for(db: AsyncEngine, owner: str, limit: int = 100) -> list[PayoutRow]:
    query = (
        select(payout_requests)
        .where(payout_requests.c.owner == owner)
        .order_by(payout_requests.c.created_at.desc())
        .limit(limit)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        PayoutRow(
            r.id,
            r.owner,
            int(r.micros),
            r.coin,
            r.network,
            r.address,
            r.status,
            r.detail,
            r.tx_hash,
            r.created_at,
            r.block_number,
            r.confirmed_at,
        )
        for r in rows
    ]
