"""Accounts and their API keys. Keys are shown once and stored only as SHA-256 hashes.

A key carries its own request limits (NULL = the control plane's defaults) and the time
it was last used, written at most once a minute so a busy key costs no write per request.

`KeyCache` keeps live keys in memory for a few seconds, so a request's key check is no
database round trip. Revoking calls `NodeCaches.key_revoked` (nodes/cache.py) right after
the write: this replica forgets the key at once, and a `KeyRevoked` bus event makes every
other replica forget it as soon as the event arrives; a bus resync forgets every key. The
few seconds of trust are only a backstop should an event still be lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store import sessions
from infernet.controlplane.store.ids import new_id, utcnow
from infernet.controlplane.store.invites import redeem_invite
from infernet.controlplane.store.tables import accounts, api_keys

KEY_PREFIX = "inft_sk_"
LAST_USED_RESOLUTION = timedelta(minutes=1)
KEY_CACHE_TTL_S = 5.0  # how long a live key is trusted without looking it up again
KEY_CACHE_MAX = 10_000  # keys held at most; the cache starts afresh beyond that


@dataclass(frozen=True)
class IssuedKey:
    id: str
    account_id: str
    secret: str  # the only time the full key exists outside the client


@dataclass(frozen=True)
class KeyRecord:
    """A stored key as the control plane knows it (never the secret)."""

    id: str
    account_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    requests_per_minute: int | None
    requests_per_hour: int | None

    @classmethod
    def from_row(cls, row: RowMapping) -> KeyRecord:
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            name=row["name"],
            prefix=row["prefix"],
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
            revoked_at=row["revoked_at"],
            requests_per_minute=row["requests_per_minute"],
            requests_per_hour=row["requests_per_hour"],
        )


@dataclass(frozen=True)
class AccountRecord:
    id: str
    name: str
    created_at: datetime


class InviteRejected(Exception):
    """The invite code is unknown or was already used."""


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def _insert_account(conn: AsyncConnection, name: str) -> str:
    account_id = new_id("acct")
    await conn.execute(insert(accounts).values(id=account_id, name=name, created_at=utcnow()))
    return account_id


async def create_account(db: AsyncEngine, name: str) -> str:
    async with db.begin() as conn:
        return await _insert_account(conn, name)


async def ensure_account(db: AsyncEngine, account_id: str, name: str) -> None:
    """Create the account `account_id` unless it exists (the platform's own accounts)."""
    async with db.begin() as conn:
        found = await conn.execute(select(accounts.c.id).where(accounts.c.id == account_id))
        if found.first() is None:
            await conn.execute(
                insert(accounts).values(id=account_id, name=name, created_at=utcnow())
            )


async def sign_up(db: AsyncEngine, name: str, invite_code: str | None) -> IssuedKey:
    """A new account and its first key, in one transaction; with `invite_code`, only if
    that code is unused (it is then used up). Raises InviteRejected otherwise."""
    async with db.begin() as conn:
        account_id = await _insert_account(conn, name)
        if invite_code is not None and not await redeem_invite(conn, invite_code, account_id):
            raise InviteRejected(invite_code)
        return await _insert_key(conn, account_id, "default", None, None)


async def get_account(db: AsyncEngine, account_id: str) -> AccountRecord | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
    if row is None:
        return None
    return AccountRecord(row.id, row.name, row.created_at)


async def issue_key(
    db: AsyncEngine,
    account_id: str,
    name: str = "",
    *,
    requests_per_minute: int | None = None,
    requests_per_hour: int | None = None,
) -> IssuedKey:
    async with db.begin() as conn:
        return await _insert_key(conn, account_id, name, requests_per_minute, requests_per_hour)


async def _insert_key(
    conn: AsyncConnection,
    account_id: str,
    name: str,
    requests_per_minute: int | None,
    requests_per_hour: int | None,
) -> IssuedKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(24)
    key_id = new_id("key")
    await conn.execute(
        insert(api_keys).values(
            id=key_id,
            account_id=account_id,
            key_hash=hash_key(secret),
            prefix=secret[: len(KEY_PREFIX) + 4],
            name=name,
            created_at=utcnow(),
            requests_per_minute=requests_per_minute,
            requests_per_hour=requests_per_hour,
        )
    )
    return IssuedKey(key_id, account_id, secret)


async def key_for_secret(db: AsyncEngine, secret: str) -> KeyRecord | None:
    """The live (unrevoked) key with this secret, or None."""
    return await _key_for_hash(db, hash_key(secret))


async def _key_for_hash(db: AsyncEngine, key_hash: str) -> KeyRecord | None:
    query = select(api_keys).where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    async with db.connect() as conn:
        row = (await conn.execute(query)).first()
    return KeyRecord.from_row(row._mapping) if row else None


async def account_for_key(db: AsyncEngine, secret: str) -> str | None:
    key = await key_for_secret(db, secret)
    return key.account_id if key else None


async def get_key(db: AsyncEngine, key_id: str) -> KeyRecord | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
    return KeyRecord.from_row(row._mapping) if row else None


async def mark_used(db: AsyncEngine, key: KeyRecord) -> datetime | None:
    """Record that `key` was used now, unless that was already recorded this minute; the
    time written, or None when nothing was."""
    now = utcnow()
    last = key.last_used_at
    if last is not None:
        if last.tzinfo is None:  # SQLite hands back naive datetimes, stored in UTC
            last = last.replace(tzinfo=now.tzinfo)
        if now - last < LAST_USED_RESOLUTION:
            return None
    async with db.begin() as conn:
        await conn.execute(update(api_keys).where(api_keys.c.id == key.id).values(last_used_at=now))
    return now


@dataclass
class KeyCache:
    """Live keys by the hash of their secret, each trusted for `ttl_s` seconds after it
    was read. Unknown and revoked secrets are never cached: they are looked up each time.
    A lookup that raced with a `forget` (it may have read the row before the revocation
    committed) answers its own request but is not kept.

    Requests that miss together share one lookup, and a key's last-used write is made
    once however many of its requests find it due: a burst of a thousand requests on one
    key is one read and at most one write, not a thousand reads holding a thousand pool
    connections (and their threads) at once."""

    ttl_s: float = KEY_CACHE_TTL_S
    clock: Callable[[], float] = time.monotonic
    _keys: dict[str, tuple[float, KeyRecord]] = field(default_factory=dict)
    _generation: int = 0  # bumped by every forget
    _reading: dict[str, asyncio.Task[KeyRecord | None]] = field(default_factory=dict)
    _marking: set[str] = field(default_factory=set)  # key ids whose write is on its way

    async def live_key(self, db: AsyncEngine, secret: str) -> KeyRecord | None:
        """`key_for_secret`, answered from memory while the entry is fresh."""
        key_hash = hash_key(secret)
        if (hit := self._keys.get(key_hash)) is not None and self.clock() - hit[0] < self.ttl_s:
            return hit[1]
        if (reading := self._reading.get(key_hash)) is None:
            reading = asyncio.ensure_future(self._look_up(db, key_hash))
            self._reading[key_hash] = reading
            reading.add_done_callback(lambda done: self._read(key_hash, done))
        # Shielded: a request that goes away does not cancel the others' lookup.
        return await asyncio.shield(reading)

    async def _look_up(self, db: AsyncEngine, key_hash: str) -> KeyRecord | None:
        started, now = self._generation, self.clock()
        key = await _key_for_hash(db, key_hash)
        if key is None:
            self._keys.pop(key_hash, None)
            return None
        if self._generation != started:
            return key
        if len(self._keys) >= KEY_CACHE_MAX:
            self._keys.clear()
        self._keys[key_hash] = (now, key)
        return key

    def _read(self, key_hash: str, done: asyncio.Task[KeyRecord | None]) -> None:
        if self._reading.get(key_hash) is done:  # a forget may have let a newer one start
            del self._reading[key_hash]
        if not done.cancelled():
            done.exception()  # a failure is its waiters' to raise, not the loop's to log

    async def mark_used(self, db: AsyncEngine, key: KeyRecord) -> None:
        """`mark_used`, keeping the cached copy's `last_used_at` current (so a busy key
        still costs at most one write a minute)."""
        if key.id in self._marking:
            return  # "used now" is being written for this key already
        self._marking.add(key.id)
        try:
            written = await mark_used(db, key)
        finally:
            self._marking.discard(key.id)
        if written is None:
            return
        for key_hash, (read_at, cached) in list(self._keys.items()):
            if cached.id == key.id:
                self._keys[key_hash] = (read_at, dataclasses.replace(cached, last_used_at=written))

    def forget(self, key_id: str | None = None) -> None:
        """Drop `key_id` (None: every key); call right after revoking it. A request
        after this reads the key again rather than joining a lookup already on its way."""
        self._generation += 1
        self._reading.clear()
        if key_id is None:
            self._keys.clear()
            return
        for key_hash, (_, cached) in list(self._keys.items()):
            if cached.id == key_id:
                del self._keys[key_hash]


async def list_keys(db: AsyncEngine, account_id: str) -> list[KeyRecord]:
    query = (
        select(api_keys)
        .where(api_keys.c.account_id == account_id)
        .order_by(api_keys.c.created_at, api_keys.c.id)
    )
    async with db.connect() as conn:
        return [KeyRecord.from_row(row._mapping) for row in (await conn.execute(query)).all()]


async def revoke_key(db: AsyncEngine, key_id: str, account_id: str | None = None) -> bool:
    """Revoke `key_id` (only within `account_id` when given), ending the dashboard
    sessions opened with it. False if there was no such live key; revoking twice keeps
    the first revocation time."""
    statement = update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
    if account_id is not None:
        statement = statement.where(api_keys.c.account_id == account_id)
    async with db.begin() as conn:
        result = await conn.execute(statement.values(revoked_at=utcnow()))
        if result.rowcount:  # dashboard sessions opened with the key end with it
            await sessions.end_for_key(conn, key_id)
    return bool(result.rowcount)
