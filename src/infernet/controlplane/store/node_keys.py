"""Which node a public key speaks for, and the owner's trust decisions about nodes.

A node has one current key (``nodes.public_key``). After a rotation the old key moves to
``retired_node_keys`` with the time it stops being accepted. Owners approve nodes (private
networks) and revoke them; a revoked node's keys are refused everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.tables import nodes, retired_node_keys

Row = Mapping[str, Any]


async def node_for_current_key(db: AsyncEngine, public_key: str) -> Row | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(nodes).where(nodes.c.public_key == public_key))).first()
    return dict(row._mapping) if row else None


async def retired_key(db: AsyncEngine, public_key: str) -> Row | None:
    query = select(retired_node_keys).where(retired_node_keys.c.public_key == public_key)
    async with db.connect() as conn:
        row = (await conn.execute(query)).first()
    return dict(row._mapping) if row else None


async def node_row(db: AsyncEngine, node_id: str) -> Row | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(nodes).where(nodes.c.id == node_id))).first()
    return dict(row._mapping) if row else None


async def key_in_use(db: AsyncEngine, public_key: str) -> bool:
    return (
        await node_for_current_key(db, public_key) is not None
        or await retired_key(db, public_key) is not None
    )


async def rotate(
    db: AsyncEngine, node_id: str, old: str, new: str, now: datetime, valid_until: datetime
) -> bool:
    """Make ``new`` the node's key and keep ``old`` valid until ``valid_until``.

    Returns False (and changes nothing) if ``old`` is no longer the node's current key.
    """
    async with db.begin() as conn:
        moved = await conn.execute(
            update(nodes)
            .where(nodes.c.id == node_id, nodes.c.public_key == old)
            .values(public_key=new)
        )
        if not moved.rowcount:
            return False
        await conn.execute(
            insert(retired_node_keys).values(
                public_key=old,
                node_id=node_id,
                replaced_by=new,
                retired_at=now,
                valid_until=valid_until,
            )
        )
    return True


async def approve(db: AsyncEngine, node_id: str) -> None:
    async with db.begin() as conn:
        await conn.execute(update(nodes).where(nodes.c.id == node_id).values(approved=True))


async def revoke(db: AsyncEngine, node_id: str, now: datetime) -> None:
    async with db.begin() as conn:
        await conn.execute(
            update(nodes).where(nodes.c.id == node_id).values(revoked=True, revoked_at=now)
        )


async def nodes_of_account(db: AsyncEngine, account_id: str) -> list[Row]:
    query = select(nodes).where(nodes.c.account_id == account_id).order_by(nodes.c.created_at)
    async with db.connect() as conn:
        return [dict(row._mapping) for row in (await conn.execute(query)).all()]
