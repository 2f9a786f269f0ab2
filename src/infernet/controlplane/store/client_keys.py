"""A client account's optional secp256k1 public key (receipts for its jobs then name it)."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.tables import client_keys


async def set_client_key(db: AsyncEngine, account_id: str, public_key: str) -> None:
    async with db.begin() as conn:
        result = await conn.execute(
            update(client_keys)
            .where(client_keys.c.account_id == account_id)
            .values(public_key=public_key, updated_at=utcnow())
        )
        if not result.rowcount:
            await conn.execute(
                insert(client_keys).values(
                    account_id=account_id, public_key=public_key, updated_at=utcnow()
                )
            )


async def client_key(db: AsyncEngine, account_id: str) -> str | None:
    query = select(client_keys.c.public_key).where(client_keys.c.account_id == account_id)
    async with db.connect() as conn:
        return (await conn.execute(query)).scalar_one_or_none()
