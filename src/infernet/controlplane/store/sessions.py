"""Dashboard sessions: who a browser is signed in as, for how long, and with which key.

A session lasts `IDLE` after its last use, renewed as it is used (at most once per
`RENEW_EVERY`, so a busy page does not write on every request), and never longer than
`MAX_AGE` after sign-in. A session opened by pasting an API key names that key: revoking
the key ends the session in the same transaction (store/accounts.py `revoke_key`). An
account lists its sessions and ends any of them by id (api/sessions.py); only the
token's SHA-256 is stored, never the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store.ids import new_id, utcnow
from infernet.controlplane.store.tables import dashboard_sessions

IDLE = timedelta(hours=12)
MAX_AGE = timedelta(days=7)
RENEW_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    account_id: str
    key_id: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _session(row: object) -> Session:
    r = row._mapping  # type: ignore[attr-defined]
    return Session(
        r["id"],
        r["account_id"],
        r["key_id"],
        _aware(r["created_at"]),
        _aware(r["last_seen_at"]),
        _aware(r["expires_at"]),
    )


async def start(db: AsyncEngine, token_hash: str, account_id: str, key_id: str | None) -> str:
    """A new session for `account_id` (opened with API key `key_id`, if any); its id."""
    now, session_id = utcnow(), new_id("sess")
    async with db.begin() as conn:
        await conn.execute(
            insert(dashboard_sessions).values(
                token_hash=token_hash,
                id=session_id,
                account_id=account_id,
                key_id=key_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + IDLE,
            )
        )
    return session_id


async def account_of(db: AsyncEngine, token_hash: str) -> str | None:
    """The account of a live session (renewing it), or None (unknown or expired)."""
    query = select(dashboard_sessions).where(dashboard_sessions.c.token_hash == token_hash)
    async with db.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    session, now = _session(row), utcnow()
    if session.expires_at <= now:
        return None
    if now - session.last_seen_at >= RENEW_EVERY:
        expires = min(now + IDLE, session.created_at + MAX_AGE)
        renew = (
            update(dashboard_sessions)
            .where(dashboard_sessions.c.token_hash == token_hash)
            .values(last_seen_at=now, expires_at=expires)
        )
        async with db.begin() as conn:
            await conn.execute(renew)
    return session.account_id


async def end(db: AsyncEngine, token_hash: str) -> None:
    async with db.begin() as conn:
        await conn.execute(
            delete(dashboard_sessions).where(dashboard_sessions.c.token_hash == token_hash)
        )


async def of_account(db: AsyncEngine, account_id: str) -> list[Session]:
    """The account's live sessions, newest first."""
    query = (
        select(dashboard_sessions)
        .where(
            dashboard_sessions.c.account_id == account_id,
            dashboard_sessions.c.expires_at > utcnow(),
        )
        .order_by(dashboard_sessions.c.created_at.desc())
    )
    async with db.connect() as conn:
        return [_session(row) for row in (await conn.execute(query)).all()]


async def end_by_id(db: AsyncEngine, account_id: str, session_id: str) -> bool:
    """End one of the account's sessions; False when it has no such session."""
    statement = delete(dashboard_sessions).where(
        dashboard_sessions.c.id == session_id, dashboard_sessions.c.account_id == account_id
    )
    async with db.begin() as conn:
        return bool((await conn.execute(statement)).rowcount)


async def end_for_key(conn: AsyncConnection, key_id: str) -> None:
    """End every session opened with API key `key_id` (inside the revocation's
    transaction)."""
    await conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.key_id == key_id))
