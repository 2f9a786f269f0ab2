"""Nonces of signed node requests, kept until they expire (limits/nonces.py), so that a
restarted control plane still knows every nonce it accepted in the last minutes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.tables import auth_nonces


def _keep(dialect: Any) -> Any:
    """The upsert, compiled once and run over many rows (executemany): a batch of any
    size costs no new compilation. A key stored already (expired, or the same nonce in
    two batches) takes the new expiry."""
    insert = dialect.insert(auth_nonces)
    return insert.on_conflict_do_update(
        index_elements=["key"], set_={"expires_at": insert.excluded.expires_at}
    )


_KEEP = {"postgresql": _keep(postgresql), "sqlite": _keep(sqlite)}


async def keep(db: AsyncEngine, nonces: Sequence[tuple[str, datetime]]) -> None:
    """Store (key, expires at) pairs, in one transaction."""
    rows = [{"key": key, "expires_at": expires} for key, expires in nonces]
    async with db.begin() as conn:
        await conn.execute(_KEEP[conn.dialect.name], rows)


async def unexpired(db: AsyncEngine) -> list[tuple[str, datetime]]:
    """Every stored nonce not yet expired, with its expiry."""
    query = select(auth_nonces.c.key, auth_nonces.c.expires_at).where(
        auth_nonces.c.expires_at > utcnow()
    )
    async with db.connect() as conn:
        return [(str(r.key), r.expires_at) for r in (await conn.execute(query)).all()]


async def forget_expired(db: AsyncEngine) -> int:
    """Delete the nonces whose time ran out; returns how many."""
    async with db.begin() as conn:
        result = await conn.execute(delete(auth_nonces).where(auth_nonces.c.expires_at <= utcnow()))
    return int(result.rowcount or 0)
