"""The dashboard's own rows: email logins and notification webhooks (sessions:
store/sessions.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.ids import new_id, utcnow
from infernet.controlplane.store.tables import (
    dashboard_logins,
    notification_webhooks,
)


class EmailTaken(Exception):
    """An account already signs in with this email."""


@dataclass(frozen=True, slots=True)
class Login:
    email: str
    account_id: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    account_id: str
    kind: str
    url: str
    last_status: str | None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def add_login(db: AsyncEngine, email: str, account_id: str, password_hash: str) -> None:
    values = {"email": email, "account_id": account_id, "password_hash": password_hash}
    try:
        async with db.begin() as conn:
            await conn.execute(insert(dashboard_logins).values(**values, created_at=utcnow()))
    except IntegrityError as exc:
        raise EmailTaken(email) from exc


async def login_for(db: AsyncEngine, email: str) -> Login | None:
    query = select(dashboard_logins).where(dashboard_logins.c.email == email)
    async with db.connect() as conn:
        row = (await conn.execute(query)).first()
    return Login(row.email, row.account_id, row.password_hash) if row else None


async def email_of(db: AsyncEngine, account_id: str) -> str | None:
    query = select(dashboard_logins.c.email).where(dashboard_logins.c.account_id == account_id)
    async with db.connect() as conn:
        return (await conn.execute(query)).scalars().first()


async def add_webhook(db: AsyncEngine, account_id: str, kind: str, url: str) -> str:
    webhook_id = new_id("hook")
    async with db.begin() as conn:
        await conn.execute(
            insert(notification_webhooks).values(
                id=webhook_id, account_id=account_id, kind=kind, url=url, created_at=utcnow()
            )
        )
    return webhook_id


async def webhooks_of(db: AsyncEngine, account_id: str) -> list[Webhook]:
    query = (
        select(notification_webhooks)
        .where(notification_webhooks.c.account_id == account_id)
        .order_by(notification_webhooks.c.created_at)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [Webhook(r.id, r.account_id, r.kind, r.url, r.last_status) for r in rows]


async def remove_webhook(db: AsyncEngine, account_id: str, webhook_id: str) -> bool:
    statement = delete(notification_webhooks).where(
        notification_webhooks.c.id == webhook_id,
        notification_webhooks.c.account_id == account_id,
    )
    async with db.begin() as conn:
        return bool((await conn.execute(statement)).rowcount)


async def record_delivery(db: AsyncEngine, webhook_id: str, outcome: str) -> None:
    statement = (
        update(notification_webhooks)
        .where(notification_webhooks.c.id == webhook_id)
        .values(last_status=outcome[:200])
    )
    async with db.begin() as conn:
        await conn.execute(statement)
