"""Accounts and their API keys. Keys are shown once and stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.ids import new_id, utcnow
from infernet.controlplane.store.tables import accounts, api_keys

KEY_PREFIX = "inft_sk_"


@dataclass(frozen=True)
class IssuedKey:
    id: str
    account_id: str
    secret: str  # the only time the full key exists outside the client


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_account(db: AsyncEngine, name: str) -> str:
    account_id = new_id("acct")
    async with db.begin() as conn:
        await conn.execute(insert(accounts).values(id=account_id, name=name, created_at=utcnow()))
    return account_id


async def issue_key(db: AsyncEngine, account_id: str, name: str = "") -> IssuedKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(24)
    key_id = new_id("key")
    async with db.begin() as conn:
        await conn.execute(
            insert(api_keys).values(
                id=key_id,
                account_id=account_id,
                key_hash=hash_key(secret),
                prefix=secret[: len(KEY_PREFIX) + 4],
                name=name,
                created_at=utcnow(),
            )
        )
    return IssuedKey(key_id, account_id, secret)


async def account_for_key(db: AsyncEngine, secret: str) -> str | None:
    query = select(api_keys.c.account_id).where(
        api_keys.c.key_hash == hash_key(secret), api_keys.c.revoked_at.is_(None)
    )
    async with db.connect() as conn:
        return (await conn.execute(query)).scalar_one_or_none()


async def revoke_key(db: AsyncEngine, key_id: str) -> None:
    async with db.begin() as conn:
        await conn.execute(
            update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=utcnow())
        )
