"""The per-replica caches that keep heartbeats off the database: a node's identity and
trust flags (`IdentityCache`), and whether it has open commands (`OpenCommandCache`).
Each answers from memory once warm, and is wrong only until `forget` (which every change
calls on every replica through the bus: tests/controlplane/jobs/test_replicas.py)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.errors import Unauthorized
from infernet.controlplane.nodes.auth import IdentityCache
from infernet.controlplane.store import commands, node_keys, nodes
from infernet.controlplane.store.accounts import create_account
from infernet.controlplane.store.ids import utcnow
from infernet.protocol.keys import NodeKey


@pytest.fixture
def database_url() -> None:
    """These caches do not depend on the database: SQLite alone."""
    return None


async def test_a_warm_identity_is_answered_without_the_database(db: AsyncEngine) -> None:
    key = NodeKey.generate().public_hex
    node_id = await nodes.register_node(db, key, "n")
    cache = IdentityCache()
    assert (await cache.identify(db, key)).node_id == node_id
    await node_keys.revoke(db, node_id, utcnow())  # behind the cache's back (no forget)
    assert (await cache.identify(db, key)).node_id == node_id, "answered from memory"
    cache.forget(node_id)
    with pytest.raises(Unauthorized, match="revoked"):
        await cache.identify(db, key)


async def test_forgetting_everything_rereads_every_node(db: AsyncEngine) -> None:
    key = NodeKey.generate().public_hex
    node_id = await nodes.register_node(db, key, "n")
    cache = IdentityCache()
    await cache.identify(db, key)
    await node_keys.revoke(db, node_id, utcnow())
    cache.forget(None)  # a bus resync
    with pytest.raises(Unauthorized, match="revoked"):
        await cache.identify(db, key)


async def test_unknown_keys_are_not_cached(db: AsyncEngine) -> None:
    key = NodeKey.generate().public_hex
    cache = IdentityCache()
    with pytest.raises(Unauthorized, match="unknown key"):
        await cache.identify(db, key)
    node_id = await nodes.register_node(db, key, "n")  # registers afterwards
    assert (await cache.identify(db, key)).node_id == node_id


async def test_the_identity_cache_is_bounded(db: AsyncEngine) -> None:
    keys = [NodeKey.generate().public_hex for _ in range(3)]
    for key in keys:
        await nodes.register_node(db, key, "n")
    cache = IdentityCache(max_entries=2)
    for key in keys:
        await cache.identify(db, key)
    assert len(cache) == 2


async def test_a_lookup_that_raced_with_a_forget_is_not_kept(
    db: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = NodeKey.generate().public_hex
    node_id = await nodes.register_node(db, key, "n")
    cache = IdentityCache()
    real = node_keys.node_for_current_key

    async def read_then_change(engine: AsyncEngine, public_key: str) -> object:
        row = await real(engine, public_key)  # read before the revocation commits...
        await node_keys.revoke(engine, node_id, utcnow())
        cache.forget(node_id)  # ...and its forget lands before the read returns
        return row

    monkeypatch.setattr(node_keys, "node_for_current_key", read_then_change)
    await cache.identify(db, key)  # answered with what it read
    monkeypatch.setattr(node_keys, "node_for_current_key", real)
    with pytest.raises(Unauthorized, match="revoked"):
        await cache.identify(db, key)  # but not remembered


async def test_a_node_with_no_open_command_is_asked_once(db: AsyncEngine) -> None:
    node_id = await nodes.register_node(db, NodeKey.generate().public_hex, "n")
    cache = commands.OpenCommandCache()
    assert await cache.open_commands(db, node_id) == []
    assert cache.known_empty(node_id)
    account = await create_account(db, "owner")
    await commands.queue_command(
        db, node_id=node_id, account_id=account, type="model_install", model="m:1b"
    )
    assert await cache.open_commands(db, node_id) == [], "until told, it does not look"
    cache.forget(node_id)  # what queuing a command does, on every replica
    [queued] = await cache.open_commands(db, node_id)
    assert queued["model"] == "m:1b"
    assert not cache.known_empty(node_id), "asked again on every beat while one is open"
    await commands.record_ack(db, queued["id"], "done", None)
    assert await cache.open_commands(db, node_id) == []
    assert cache.known_empty(node_id)
