"""Registered nodes: identity (public key) and the slowly changing facts about them.

Liveness is not written per heartbeat: the registry keeps it in memory and the
`NodeRegistry` flushes `last_heartbeat_at` in batches, one statement per batch: on
PostgreSQL an ``UPDATE ... FROM unnest(ids, moments)`` (one round trip, two array
parameters however many nodes), elsewhere one prepared UPDATE run over all of them
(executemany; SQLite is local).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.ids import new_id, utcnow
from infernet.controlplane.store.tables import nodes

# A VALUES list would be compiled afresh for every batch size (~0.25 ms per row in
# SQLAlchemy); two arrays keep the statement fixed and its compiled form cached.
_FLUSH_POSTGRES = text(
    "UPDATE nodes SET last_heartbeat_at = b.moment"
    " FROM unnest(CAST(:ids AS VARCHAR[]), CAST(:moments AS TIMESTAMPTZ[])) AS b(id, moment)"
    " WHERE nodes.id = b.id"
)


async def node_by_key(db: AsyncEngine, public_key: str) -> Mapping[str, Any] | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(nodes).where(nodes.c.public_key == public_key))).first()
    return cast(Mapping[str, Any], row._mapping) if row else None


async def node_by_id(db: AsyncEngine, node_id: str) -> Mapping[str, Any] | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(nodes).where(nodes.c.id == node_id))).first()
    return cast(Mapping[str, Any], row._mapping) if row else None


async def visible_to(db: AsyncEngine, account_id: str | None) -> list[Mapping[str, Any]]:
    """The account's nodes, oldest first (None: every node, for platform admins)."""
    query = select(nodes).order_by(nodes.c.created_at)
    if account_id is not None:
        query = query.where(nodes.c.account_id == account_id)
    async with db.connect() as conn:
        return [cast(Mapping[str, Any], row._mapping) for row in (await conn.execute(query)).all()]


async def ids_of_account(db: AsyncEngine, account_id: str) -> list[str]:
    query = select(nodes.c.id).where(nodes.c.account_id == account_id)
    async with db.connect() as conn:
        return [str(r) for r in (await conn.execute(query)).scalars()]


async def register_node(db: AsyncEngine, public_key: str, name: str) -> str:
    existing = await node_by_key(db, public_key)
    if existing is not None:
        return str(existing["id"])
    node_id = new_id("node", 4)
    async with db.begin() as conn:
        await conn.execute(
            insert(nodes).values(
                id=node_id,
                public_key=public_key,
                name=name,
                status="registered",
                created_at=utcnow(),
                served_models=[],
                revoked=False,
            )
        )
    return node_id


async def save_node_facts(db: AsyncEngine, node_id: str, **facts: Any) -> None:
    async with db.begin() as conn:
        await conn.execute(update(nodes).where(nodes.c.id == node_id).values(**facts))


async def flush_heartbeats(db: AsyncEngine, seen: Mapping[str, datetime]) -> None:
    """Write each node's last heartbeat time, in one transaction."""
    if not seen:
        return
    rows = list(seen.items())
    async with db.begin() as conn:
        if db.dialect.name != "postgresql":
            each = update(nodes).where(nodes.c.id == bindparam("node_id"))
            params = [{"node_id": node_id, "moment": moment} for node_id, moment in rows]
            await conn.execute(each.values(last_heartbeat_at=bindparam("moment")), params)
            return
        ids, moments = [node_id for node_id, _ in rows], [moment for _, moment in rows]
        await conn.execute(_FLUSH_POSTGRES, {"ids": ids, "moments": moments})


async def record_offence(db: AsyncEngine, node_id: str, reason: str) -> int:
    """Count one more offence against the node (jobs/claims.py); its new count."""
    statement = (
        update(nodes)
        .where(nodes.c.id == node_id)
        .values(offences=nodes.c.offences + 1, last_offence=reason[:500], last_offence_at=utcnow())
        .returning(nodes.c.offences)
    )
    async with db.begin() as conn:
        count = (await conn.execute(statement)).scalar_one_or_none()
    return int(count or 0)


async def seen_since(db: AsyncEngine, since: datetime) -> list[Mapping[str, Any]]:
    """Nodes not revoked whose last heartbeat (as flushed) was at or after `since`."""
    query = select(nodes.c.id, nodes.c.public_key, nodes.c.served_models).where(
        nodes.c.last_heartbeat_at >= since, nodes.c.revoked.is_(False)
    )
    async with db.connect() as conn:
        return [cast(Mapping[str, Any], r._mapping) for r in (await conn.execute(query)).all()]
