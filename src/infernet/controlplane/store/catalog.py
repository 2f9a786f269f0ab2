"""Stored facts about what the network serves, for model listings."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.tables import nodes


async def registered_at(db: AsyncEngine, node_ids: Collection[str]) -> dict[str, datetime]:
    """When each of `node_ids` first registered with this control plane."""
    if not node_ids:
        return {}
    query = select(nodes.c.id, nodes.c.created_at).where(nodes.c.id.in_(list(node_ids)))
    async with db.connect() as conn:
        return {row.id: row.created_at for row in (await conn.execute(query)).all()}
