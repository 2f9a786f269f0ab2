"""Nonces kept in the database (store/nonces.py, limits/nonces.py), on SQLite and
PostgreSQL: a nonce is refused again until it expires, even by a new store on the same
database (a restarted control plane), and a burst of requests shares a few writes."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.limits.nonces import DatabaseNonceStore
from infernet.controlplane.store import nonces
from infernet.controlplane.store.tables import auth_nonces


async def test_a_nonce_is_a_replay_until_it_expires(db: AsyncEngine) -> None:
    assert await nonces.record(db, ["k:a", "k:b"], 300) == set()
    assert await nonces.record(db, ["k:a", "k:c"], 300) == {"k:a"}
    assert await nonces.record(db, ["k:gone"], -1) == set()  # recorded already expired
    assert await nonces.record(db, ["k:gone"], 300) == set()  # so it may be used again
    assert await nonces.record(db, ["k:gone"], 300) == {"k:gone"}


async def test_expired_nonces_are_deleted(db: AsyncEngine) -> None:
    await nonces.record(db, ["k:old"], -1)
    await nonces.record(db, ["k:new"], 300)
    assert await nonces.forget_expired(db) == 1
    async with db.connect() as conn:
        left = (await conn.execute(select(auth_nonces.c.key))).scalars().all()
    assert left == ["k:new"]


async def test_a_new_store_on_the_same_database_still_refuses_a_seen_nonce(
    db: AsyncEngine,
) -> None:
    before = DatabaseNonceStore(db)
    assert await before.seen_or_add("key:nonce", 300) is False
    after = DatabaseNonceStore(db)  # the control plane restarted
    assert await after.seen_or_add("key:nonce", 300) is True


async def test_concurrent_requests_share_writes_and_a_duplicate_in_a_batch_is_a_replay(
    db: AsyncEngine,
) -> None:
    store = DatabaseNonceStore(db)
    keys = [f"key:{i}" for i in range(200)] + ["key:7"]
    answers = await asyncio.gather(*(store.seen_or_add(k, 300) for k in keys))
    assert answers.count(True) == 1  # the second key:7
    async with db.connect() as conn:
        stored = (await conn.execute(select(func.count()).select_from(auth_nonces))).scalar()
    assert stored == 200
