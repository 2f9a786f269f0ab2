"""Nonces kept in the database (store/nonces.py, limits/nonces.py), on SQLite and
PostgreSQL: a nonce is refused again until it expires, also by a new store on the same
database (a restarted control plane); a burst of requests shares a few writes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.limits.nonces import DatabaseNonceStore
from infernet.controlplane.store import nonces
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.tables import auth_nonces


async def count(db: AsyncEngine) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(auth_nonces))).scalar())


async def test_a_new_store_on_the_same_database_still_refuses_a_seen_nonce(
    db: AsyncEngine,
) -> None:
    before = DatabaseNonceStore(db)
    assert await before.seen_or_add("key:nonce", 300) is False
    assert await before.seen_or_add("key:nonce", 300) is True
    after = DatabaseNonceStore(db)  # the control plane restarted
    assert await after.seen_or_add("key:nonce", 300) is True
    assert await after.seen_or_add("key:other", 300) is False


async def test_an_expired_nonce_is_not_loaded_and_is_deleted(db: AsyncEngine) -> None:
    past, future = utcnow() - timedelta(seconds=1), utcnow() + timedelta(seconds=300)
    await nonces.keep(db, [("key:old", past), ("key:new", future)])
    assert [key for key, _ in await nonces.unexpired(db)] == ["key:new"]
    assert await DatabaseNonceStore(db).seen_or_add("key:old", 300) is False
    assert await nonces.forget_expired(db) == 0  # key:old was stored again, for 300 s
    assert "key:old" in {key for key, _ in await nonces.unexpired(db)}
    await nonces.keep(db, [("key:gone", past)])
    assert await nonces.forget_expired(db) == 1


async def test_concurrent_requests_share_writes_and_a_repeated_nonce_is_a_replay(
    db: AsyncEngine,
) -> None:
    store = DatabaseNonceStore(db)
    keys = [f"key:{i}" for i in range(200)] + ["key:7"]
    answers = await asyncio.gather(*(store.seen_or_add(k, 300) for k in keys))
    assert answers.count(True) == 1  # the second key:7
    assert await count(db) == 200
