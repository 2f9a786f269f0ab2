"""Nonces of signed node requests, kept until they expire (limits/nonces.py uses them).

`record` takes a batch of distinct keys in one transaction: each is recorded unless it
is there and unexpired already, and the answer names those (the replays). An insert that
ignores a conflict decides it, so two writers at once (two replicas sharing PostgreSQL)
never both take one key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.tables import auth_nonces

BATCH = 500  # keys per statement (SQLite caps bound parameters)


async def record(db: AsyncEngine, keys: Sequence[str], ttl_s: float) -> set[str]:
    """Record `keys` (distinct) for `ttl_s` seconds; returns those already recorded and
    not expired (replays), which keep their first expiry."""
    seen: set[str] = set()
    async with db.begin() as conn:
        for start in range(0, len(keys), BATCH):
            seen |= await _record(conn, keys[start : start + BATCH], ttl_s)
    return seen


async def _record(conn: AsyncConnection, keys: Sequence[str], ttl_s: float) -> set[str]:
    now = utcnow()
    expires = now + timedelta(seconds=ttl_s)
    rows = [{"key": key, "expires_at": expires} for key in keys]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    fresh_insert = (
        dialect.insert(auth_nonces)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(auth_nonces.c.key)
    )
    fresh = set((await conn.execute(fresh_insert)).scalars())
    known = [key for key in keys if key not in fresh]
    if not known:
        return set()
    lapsed = (
        update(auth_nonces)
        .where(auth_nonces.c.key.in_(known), auth_nonces.c.expires_at <= now)
        .values(expires_at=expires)
        .returning(auth_nonces.c.key)
    )
    renewed = set((await conn.execute(lapsed)).scalars())
    return set(known) - renewed


async def forget_expired(db: AsyncEngine) -> int:
    """Delete the nonces whose time ran out; returns how many."""
    async with db.begin() as conn:
        result = await conn.execute(delete(auth_nonces).where(auth_nonces.c.expires_at <= utcnow()))
    return int(result.rowcount or 0)
