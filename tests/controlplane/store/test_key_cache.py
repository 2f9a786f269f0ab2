"""`KeyCache`: a client's API key answered from memory for a few seconds, so a request's
key check is no database round trip, and forgotten at once when the key is revoked."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store import accounts
from infernet.controlplane.store.accounts import (
    IssuedKey,
    KeyCache,
    KeyRecord,
    create_account,
    get_key,
    issue_key,
    revoke_key,
)
from tests.support.harness import Harness


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_live_key_is_answered_from_memory_until_its_entry_is_stale(db: AsyncEngine) -> None:
    clock = Clock()
    cache = KeyCache(ttl_s=5.0, clock=clock)
    issued = await issue_key(db, await create_account(db, "a"), "k")
    assert (await cache.live_key(db, issued.secret)) is not None
    await revoke_key(db, issued.id)  # behind the cache's back: no forget()
    clock.now += 4.9
    assert (await cache.live_key(db, issued.secret)) is not None, "fresh entry: no lookup"
    clock.now += 0.2
    assert (await cache.live_key(db, issued.secret)) is None, "stale entry: looked up again"


async def test_a_forgotten_key_is_looked_up_again_at_once(db: AsyncEngine) -> None:
    cache = KeyCache(clock=Clock())
    issued = await issue_key(db, await create_account(db, "a"), "k")
    assert (await cache.live_key(db, issued.secret)) is not None
    await revoke_key(db, issued.id)
    cache.forget(issued.id)
    assert (await cache.live_key(db, issued.secret)) is None


async def test_unknown_secrets_are_not_remembered(db: AsyncEngine) -> None:
    cache = KeyCache(clock=Clock())
    assert (await cache.live_key(db, "inft_sk_nothing")) is None
    assert (await cache.live_key(db, "inft_sk_nothing")) is None
    issued = await issue_key(db, await create_account(db, "a"), "k")
    assert (await cache.live_key(db, issued.secret)) is not None


async def test_marking_a_cached_key_used_writes_once_and_updates_the_cached_copy(
    db: AsyncEngine,
) -> None:
    cache = KeyCache(clock=Clock())
    issued = await issue_key(db, await create_account(db, "a"), "k")
    key = await cache.live_key(db, issued.secret)
    assert key is not None and key.last_used_at is None
    await cache.mark_used(db, key)
    cached = await cache.live_key(db, issued.secret)
    stored = await get_key(db, issued.id)
    assert cached is not None and stored is not None
    assert cached.last_used_at is not None and stored.last_used_at is not None
    await cache.mark_used(db, cached)  # within the minute: no second write
    again = await get_key(db, issued.id)
    assert again is not None and again.last_used_at == stored.last_used_at


async def test_revoking_through_the_api_refuses_a_key_the_cache_holds(harness: Harness) -> None:
    async with harness.client() as api:
        created = (await api.post("/api/v1/keys", json={"name": "temp"})).json()
    async with harness.client(created["key"]) as temp:
        for _ in range(3):  # warm: answered from the cache now
            assert (await temp.get("/api/v1/models")).status_code == 200
    async with harness.client() as api:
        assert (await api.delete(f"/api/v1/keys/{created['id']}")).status_code == 200
    async with harness.client(created["key"]) as temp:
        assert (await temp.get("/api/v1/models")).status_code == 401


async def test_a_lookup_that_raced_with_a_revocation_is_not_kept(
    db: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = KeyCache(clock=Clock())
    issued = await issue_key(db, await create_account(db, "a"), "k")
    read_before_revoking = accounts._key_for_hash

    async def slow_read(engine: AsyncEngine, key_hash: str) -> KeyRecord | None:
        key = await read_before_revoking(engine, key_hash)  # the row as it was...
        await revoke_key(engine, issued.id)  # ...then the revocation commits and forgets
        cache.forget(issued.id)
        return key

    monkeypatch.setattr(accounts, "_key_for_hash", slow_read)
    assert (await cache.live_key(db, issued.secret)) is not None, "its own request: raced"
    monkeypatch.setattr(accounts, "_key_for_hash", read_before_revoking)
    assert (await cache.live_key(db, issued.secret)) is None, "not kept: looked up again"


@pytest.fixture
async def issued(db: AsyncEngine) -> IssuedKey:
    return await issue_key(db, await create_account(db, "a"), "k")


def slow_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Key lookups made slow: each reads the row, records the hash it read, then takes
    another 20 ms to answer. Returns the record, in order."""
    read, reads = accounts._key_for_hash, []

    async def slow(engine: AsyncEngine, key_hash: str) -> KeyRecord | None:
        key = await read(engine, key_hash)
        reads.append(key_hash)
        await asyncio.sleep(0.02)
        return key

    monkeypatch.setattr(accounts, "_key_for_hash", slow)
    return reads


async def test_requests_that_miss_together_share_one_lookup(
    db: AsyncEngine, issued: IssuedKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = KeyCache(clock=Clock())
    reads = slow_lookups(monkeypatch)
    keys = await asyncio.gather(*(cache.live_key(db, issued.secret) for _ in range(50)))
    assert {k.id for k in keys if k is not None} == {issued.id} and None not in keys
    assert len(reads) == 1
    unknown = await asyncio.gather(*(cache.live_key(db, "inft_sk_nothing") for _ in range(50)))
    assert unknown == [None] * 50 and len(reads) == 2


async def test_a_request_after_a_forget_does_not_join_the_lookup_before_it(
    db: AsyncEngine, issued: IssuedKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = KeyCache(clock=Clock())
    reads = slow_lookups(monkeypatch)
    before = asyncio.ensure_future(cache.live_key(db, issued.secret))
    while not reads:  # until it has read the row as it was before the revocation
        await asyncio.sleep(0.001)
    await revoke_key(db, issued.id)
    cache.forget(issued.id)
    assert (await cache.live_key(db, issued.secret)) is None, "read again, after the revocation"
    assert (await before) is not None, "the request that came before it: as read"


async def test_a_request_that_goes_away_does_not_cancel_the_lookup_others_wait_for(
    db: AsyncEngine, issued: IssuedKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = KeyCache(clock=Clock())
    slow_lookups(monkeypatch)
    first = asyncio.ensure_future(cache.live_key(db, issued.secret))
    second = asyncio.ensure_future(cache.live_key(db, issued.secret))
    await asyncio.sleep(0)
    first.cancel()
    key = await second
    assert key is not None and key.id == issued.id


async def test_a_burst_on_a_key_writes_its_last_use_once(
    db: AsyncEngine, issued: IssuedKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = KeyCache(clock=Clock())
    key = await cache.live_key(db, issued.secret)
    assert key is not None
    write, writes = accounts.mark_used, []

    async def slow(engine: AsyncEngine, record: KeyRecord) -> datetime | None:
        writes.append(record.id)
        await asyncio.sleep(0.02)
        return await write(engine, record)

    monkeypatch.setattr(accounts, "mark_used", slow)
    await asyncio.gather(*(cache.mark_used(db, key) for _ in range(50)))
    assert writes == [issued.id]
    stored = await get_key(db, issued.id)
    assert stored is not None and stored.last_used_at is not None
