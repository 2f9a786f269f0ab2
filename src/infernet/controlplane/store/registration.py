"""One-time node registration tokens and the registration itself (Book §2.4, §4.1).

A token is ``inft_reg_`` + 20 letters and digits, created by an account owner, shown once,
stored only as its SHA-256, and valid once until it expires (24 h by default,
`Settings.registration_token_ttl_s`). Registering with it gives the node to the token's
account. Consuming the token and creating the node happen in one transaction, so a token
can never register two nodes, and a failed registration never burns a token.

Registration is idempotent: the same public key always gets the same node id back.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store.ids import new_id, utcnow
from infernet.controlplane.store.tables import nodes, registration_tokens, retired_node_keys

TOKEN_PREFIX = "inft_reg_"
TOKEN_LENGTH = 20
TOKEN_RE = re.compile(rf"{TOKEN_PREFIX}[A-Za-z0-9]{{{TOKEN_LENGTH}}}")
_ALPHABET = string.ascii_letters + string.digits


class RegistrationRefused(Exception):
    """The node may not register; ``code`` is a stable tag, the text says what to do."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class IssuedToken:
    id: str
    token: str  # the only time the full token exists outside the node
    account_id: str
    expires_at: datetime


@dataclass(frozen=True)
class NewNode:
    """Who a registering node is and what it brings."""

    public_key: str
    name: str
    user_pubkey: str | None = None
    delegation: Mapping[str, object] | None = None


@dataclass(frozen=True)
class Registered:
    node_id: str
    account_id: str | None
    approved: bool
    created: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_LENGTH))


async def create_token(db: AsyncEngine, account_id: str, ttl_s: float) -> IssuedToken:
    token, token_id, now = new_token(), new_id("regtok"), utcnow()
    expires = now + timedelta(seconds=ttl_s)
    async with db.begin() as conn:
        await conn.execute(
            insert(registration_tokens).values(
                id=token_id,
                token_hash=hash_token(token),
                prefix=token[: len(TOKEN_PREFIX) + 4],
                account_id=account_id,
                created_at=now,
                expires_at=expires,
            )
        )
    return IssuedToken(token_id, token, account_id, expires)


async def _why_unusable(conn: AsyncConnection, token_hash: str) -> RegistrationRefused:
    query = select(registration_tokens).where(registration_tokens.c.token_hash == token_hash)
    row = (await conn.execute(query)).first()
    if row is None:
        return RegistrationRefused(
            "token_invalid", "Unknown registration token; create one with `infernet node token`."
        )
    if row.used_at is not None:
        return RegistrationRefused(
            "token_used", "This registration token was already used; tokens are one-time."
        )
    return RegistrationRefused(
        "token_expired", "This registration token has expired; create a new one."
    )


async def _consume(conn: AsyncConnection, token: str, node_id: str) -> str:
    """Mark the token used by ``node_id``; return its account, or raise why it cannot be."""
    if not TOKEN_RE.fullmatch(token):
        raise RegistrationRefused(
            "token_invalid",
            f"Malformed registration token: expected {TOKEN_PREFIX} and {TOKEN_LENGTH} "
            "letters or digits.",
        )
    token_hash, now = hash_token(token), utcnow()
    statement = (
        update(registration_tokens)
        .where(
            registration_tokens.c.token_hash == token_hash,
            registration_tokens.c.used_at.is_(None),
            registration_tokens.c.expires_at > now,
        )
        .values(used_at=now, used_by_node_id=node_id)
        .returning(registration_tokens.c.account_id)
    )
    account_id = (await conn.execute(statement)).scalar_one_or_none()
    if account_id is None:
        raise await _why_unusable(conn, token_hash)
    return str(account_id)


async def _existing(conn: AsyncConnection, public_key: str) -> Mapping[str, Any] | None:
    row = (await conn.execute(select(nodes).where(nodes.c.public_key == public_key))).first()
    if row is not None:
        return dict(row._mapping)
    query = select(retired_node_keys).where(retired_node_keys.c.public_key == public_key)
    if (await conn.execute(query)).first() is not None:
        raise RegistrationRefused(
            "rotated", "This node key was rotated; register with the node's current key."
        )
    return None


async def register(
    db: AsyncEngine,
    node: NewNode,
    *,
    token: str | None,
    require_token: bool,
    require_approval: bool,
) -> Registered:
    """Register ``node`` (or find it again); see the module docstring for the rules."""
    try:
        async with db.begin() as conn:
            return await _register(conn, node, token, require_token, require_approval)
    except IntegrityError:  # the same key registered concurrently: answer with that node
        async with db.begin() as conn:
            return await _register(conn, node, None, False, require_approval)


async def _register(
    conn: AsyncConnection,
    node: NewNode,
    token: str | None,
    require_token: bool,
    require_approval: bool,
) -> Registered:
    row = await _existing(conn, node.public_key)
    if row is not None:
        return await _again(conn, row, node, token)
    if token is None and require_token:
        raise RegistrationRefused(
            "token_required",
            "This control plane needs a registration token: ask the account owner for one "
            "(`infernet node token`) and run `infernet register --token inft_reg_...`.",
        )
    node_id = new_id("node", 4)
    account_id = await _consume(conn, token, node_id) if token else None
    await conn.execute(
        insert(nodes).values(
            id=node_id,
            public_key=node.public_key,
            name=node.name,
            account_id=account_id,
            status="registered",
            created_at=utcnow(),
            served_models=[],
            revoked=False,
            approved=not require_approval,
            user_pubkey=node.user_pubkey,
            delegation=dict(node.delegation) if node.delegation else None,
        )
    )
    return Registered(node_id, account_id, not require_approval, created=True)


async def _again(
    conn: AsyncConnection, row: Mapping[str, Any], node: NewNode, token: str | None
) -> Registered:
    """A known key registers again: same node id; fill in an account or user key it lacked."""
    if row["revoked"]:
        raise RegistrationRefused("revoked", "This node key was revoked by its owner.")
    changes: dict[str, object] = {}
    if token is not None and row["account_id"] is None:
        changes["account_id"] = await _consume(conn, token, str(row["id"]))
    if node.user_pubkey is not None and row["user_pubkey"] != node.user_pubkey:
        changes.update(user_pubkey=node.user_pubkey, delegation=dict(node.delegation or {}))
    if changes:
        await conn.execute(update(nodes).where(nodes.c.id == row["id"]).values(**changes))
    account = changes.get("account_id", row["account_id"])
    return Registered(
        str(row["id"]), str(account) if account else None, bool(row["approved"]), created=False
    )
