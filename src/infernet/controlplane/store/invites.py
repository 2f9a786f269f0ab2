"""Invite codes for sign-up when `Settings.require_invite` is on.

A code is shown once (to the operator who ran `infernet cp invite`) and stored only as a
SHA-256 hash. Redeeming is one guarded UPDATE, so a code signs up exactly one account
even when two sign-ups race for it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store.ids import new_id, utcnow
from infernet.controlplane.store.tables import invites

INVITE_PREFIX = "inft_inv_"


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInvite:
    id: str
    code: str  # shown once


async def create_invite(db: AsyncEngine, note: str = "") -> IssuedInvite:
    code = INVITE_PREFIX + secrets.token_urlsafe(12)
    invite_id = new_id("inv")
    async with db.begin() as conn:
        await conn.execute(
            insert(invites).values(
                id=invite_id, code_hash=hash_code(code), note=note, created_at=utcnow()
            )
        )
    return IssuedInvite(invite_id, code)


async def redeem_invite(conn: AsyncConnection, code: str, account_id: str) -> bool:
    """Mark the unused invite `code` as used by `account_id`, inside the caller's
    transaction. False if the code is unknown or already used."""
    result = await conn.execute(
        update(invites)
        .where(invites.c.code_hash == hash_code(code), invites.c.used_at.is_(None))
        .values(used_at=utcnow(), used_by=account_id)
    )
    return bool(result.rowcount)
