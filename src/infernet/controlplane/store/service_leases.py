"""Named leases: work one replica does for all (e.g. `settlement:base`), held by whoever
took it last until it expires, renewed by its holder.

`hold` is one conditional statement (take it if it is free, expired, or ours), so of
replicas racing for a lease exactly one gets it, on SQLite or PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.settlement_tables import service_leases
from infernet.controlplane.store.upsert import upsert_statement


async def hold(db: AsyncEngine, name: str, owner: str, ttl_s: float) -> bool:
    """Take or renew the lease for `ttl_s` seconds; whether `owner` holds it now."""
    t = service_leases
    now = utcnow()
    values = {"name": name, "owner": owner, "expires_at": now + timedelta(seconds=ttl_s)}
    async with db.begin() as conn:
        changes = {"owner": owner, "expires_at": values["expires_at"]}
        free = or_(t.c.owner == owner, t.c.expires_at < now)
        statement = upsert_statement(conn, t, values, ["name"], changes, free)
        return (await conn.execute(statement.returning(t.c.owner))).first() is not None


async def release(db: AsyncEngine, name: str, owner: str) -> None:
    """Give the lease up now (a clean stop), so another replica need not wait it out."""
    t = service_leases
    async with db.begin() as conn:
        await conn.execute(delete(t).where(t.c.name == name, t.c.owner == owner))
