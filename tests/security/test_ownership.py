"""Nodes and sessions belong to someone. Only a node's owner (the account whose
registration token it joined with), a platform admin (`Settings.admin_accounts`, Book
ADV-02) or the node itself (signed) may command it, price it, approve or revoke it, or see
its private details; a node no account owns answers to itself alone. A dashboard session
dies with the API key it was opened with, can be listed and ended, and lasts hours unless
used. Crediting a balance out of nothing is an admin action outside a local demo."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest_asyncio
from sqlalchemy import select, update

from infernet.controlplane.settings import Settings
from infernet.controlplane.store import sessions
from infernet.controlplane.store.accounts import account_for_key
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.tables import dashboard_sessions
from infernet.localnet import LocalNode
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend
from tests.support.signed import signed_post

INSTALL = {"type": "model_install", "model": "smollm2:135m"}


@pytest_asyncio.fixture
async def net(tmp_path: Path) -> AsyncIterator[Harness]:
    """A paid network whose platform admin is a fixed account (`admin_key`)."""
    async with running(tmp_path, Settings(payments_enabled=True)) as harness:
        yield harness


async def account_of(net: Harness, key: str) -> str:
    account = await account_for_key(net.control_plane.services.db, key)
    assert account is not None
    return account


async def admin_key(net: Harness) -> str:
    """A new account made a platform admin (as `cp serve --admin ACCOUNT_ID` does)."""
    key = await net.control_plane.create_client_key("admin")
    net.control_plane.services.settings.admin_accounts.append(await account_of(net, key))
    return key


async def unowned(net: Harness) -> LocalNode:
    return await net.add_node(ScriptedBackend(["m:1b"]))


async def owned(net: Harness) -> LocalNode:
    return await net.add_node(ScriptedBackend(["m:1b"]), owner=net.api_key)


# --- nodes ------------------------------------------------------------------------------


async def test_a_node_without_owner_takes_commands_from_nobody_but_itself(net: Harness) -> None:
    node = await unowned(net)
    path = f"/api/v1/nodes/{node.node_id}/commands"
    async with net.client() as api:
        refused = await api.post(path, json=INSTALL)
        listed = await api.get(path)
    assert refused.status_code == 404 and listed.status_code == 404, refused.text
    assert "no owner" in refused.json()["error_message"]
    itself = await signed_post(net, node.key, path, INSTALL)
    assert itself.status_code == 201, itself.text
    assert itself.json()["status"] == "pending"


async def test_only_the_owner_or_an_admin_commands_prices_approves_and_revokes(
    net: Harness,
) -> None:
    node = await owned(net)
    other = await net.control_plane.create_client_key("other")
    admin = await admin_key(net)
    price = {"model": "m:1b", "input_per_1k": "0.001", "output_per_1k": "0.002"}
    base = f"/api/v1/nodes/{node.node_id}"
    async with net.client(other) as api:
        assert (await api.post(f"{base}/commands", json=INSTALL)).status_code == 404
        assert (await api.put(f"{base}/prices", json=price)).status_code == 403
        assert (await api.post(f"{base}/approve")).status_code == 404
        assert (await api.post(f"{base}/revoke")).status_code == 404
    async with net.client(admin) as api:
        assert (await api.post(f"{base}/commands", json=INSTALL)).status_code == 201
        assert (await api.put(f"{base}/prices", json=price)).status_code == 200
        assert (await api.post(f"{base}/approve")).status_code == 200
    async with net.client() as api:  # the owner
        assert (await api.post(f"{base}/commands", json=INSTALL)).status_code == 201
        assert (await api.post(f"{base}/revoke")).status_code == 200


async def test_why_no_jobs_is_for_the_owner_and_the_public_sees_only_status(
    net: Harness,
) -> None:
    node = await owned(net)
    path = f"/api/v1/nodes/{node.node_id}/status"
    other = await net.control_plane.create_client_key("other")
    async with httpx.AsyncClient(base_url=net.url) as anyone:
        public = (await anyone.get(path)).json()
    async with net.client(other) as api:
        stranger = (await api.get(path)).json()
    async with net.client() as api:
        owner = (await api.get(path)).json()
    assert public == {"status": "online", "why_no_jobs": None}
    assert stranger["why_no_jobs"] is None
    assert owner["why_no_jobs"]["status"] == "online"


async def test_the_dashboard_shows_no_one_a_node_they_do_not_own(net: Harness) -> None:
    node = await unowned(net)
    async with httpx.AsyncClient(base_url=net.url) as browser:
        await browser.post("/dashboard/sign-in", data={"api_key": net.api_key})
        listing = await browser.get("/dashboard/nodes")
        page = await browser.get(f"/dashboard/nodes/{node.node_id}")
        queued = await browser.post(f"/dashboard/nodes/{node.node_id}/commands", data=INSTALL)
    assert listing.status_code == 200 and str(node.node_id) not in listing.text
    assert page.status_code == 404 and queued.status_code == 404


# --- sessions ---------------------------------------------------------------------------


@asynccontextmanager
async def signed_in(net: Harness, key: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in to the dashboard with API key `key`."""
    async with httpx.AsyncClient(base_url=net.url, timeout=30) as browser:
        answer = await browser.post("/dashboard/sign-in", data={"api_key": key})
        assert answer.status_code == 303 and browser.cookies
        yield browser


async def still_signed_in(browser: httpx.AsyncClient) -> bool:
    return (await browser.get("/dashboard/settings")).status_code == 200


async def test_revoking_a_key_ends_the_sessions_opened_with_it(net: Harness) -> None:
    async with net.client() as api:
        laptop = (await api.post("/api/v1/keys", json={"name": "laptop"})).json()
    async with signed_in(net, laptop["key"]) as browser, net.client() as api:
        assert await still_signed_in(browser)
        assert (await api.delete(f"/api/v1/keys/{laptop['id']}")).status_code == 200
        assert not await still_signed_in(browser)
        made = await browser.post("/dashboard/settings/keys", data={"name": "sneaky"})
        assert made.status_code == 303 and "sign-in" in made.headers["location"]


async def test_an_account_lists_and_ends_its_sessions(net: Harness) -> None:
    async with signed_in(net, net.api_key) as browser, net.client() as api:
        listed = (await api.get("/api/v1/sessions")).json()["sessions"]
        assert len(listed) == 1 and listed[0]["key_id"] is not None
        other = await net.control_plane.create_client_key("other")
        async with net.client(other) as stranger:
            assert (await stranger.delete(f"/api/v1/sessions/{listed[0]['id']}")).status_code == 404
        assert await still_signed_in(browser)
        assert (await api.delete(f"/api/v1/sessions/{listed[0]['id']}")).status_code == 204
        assert not await still_signed_in(browser)
        assert (await api.get("/api/v1/sessions")).json()["sessions"] == []


async def test_the_settings_page_lists_sessions_and_ends_one(net: Harness) -> None:
    async with signed_in(net, net.api_key) as laptop:
        await asyncio.sleep(0.01)
        async with signed_in(net, net.api_key) as phone:
            page = (await phone.get("/dashboard/settings")).text
            newest, older = re.findall(r'data-session="(sess_[0-9a-f]+)"', page)
            ended = await phone.post(f"/dashboard/settings/sessions/{older}/end")
            assert ended.status_code == 303
            assert not await still_signed_in(laptop)
            assert await still_signed_in(phone)
            assert newest != older


async def test_a_session_lasts_hours_unless_used_and_slides_while_used(net: Harness) -> None:
    db = net.control_plane.services.db
    async with signed_in(net, net.api_key) as browser:
        [session] = await sessions.of_account(db, await account_of(net, net.api_key))
        assert session.expires_at - session.created_at <= timedelta(hours=12)
        an_hour_ago = utcnow() - timedelta(hours=1)
        async with db.begin() as conn:
            await conn.execute(
                update(dashboard_sessions).values(
                    last_seen_at=an_hour_ago, expires_at=an_hour_ago + sessions.IDLE
                )
            )
        assert await still_signed_in(browser)  # used: renewed for another 12 hours
        async with db.connect() as conn:
            renewed = (await conn.execute(select(dashboard_sessions.c.expires_at))).scalar_one()
        assert sessions._aware(renewed) > utcnow() + sessions.IDLE - timedelta(minutes=1)
        async with db.begin() as conn:
            await conn.execute(update(dashboard_sessions).values(expires_at=utcnow()))
        assert not await still_signed_in(browser)  # idle past its lifetime


# --- deposits ---------------------------------------------------------------------------


async def test_crediting_a_balance_is_an_admin_action(net: Harness) -> None:
    admin = await admin_key(net)
    client = await account_of(net, net.api_key)
    async with net.client() as api:
        refused = await api.post("/api/v1/billing/deposits", json={"amount": "50.00"})
        balance = (await api.get("/api/v1/billing/balance")).json()["available"]
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    async with net.client(admin) as api:
        credited = await api.post(
            "/api/v1/billing/deposits", json={"amount": "5.00", "account_id": client}
        )
        nobody = await api.post(
            "/api/v1/billing/deposits", json={"amount": "5.00", "account_id": "acct_nobody"}
        )
    assert credited.status_code == 201, credited.text
    assert nobody.status_code == 404
    async with net.client() as api:
        after = (await api.get("/api/v1/billing/balance")).json()["available"]
    assert float(after) == float(balance) + 5


async def test_a_local_demo_lets_a_client_credit_only_itself(tmp_path: Path) -> None:
    settings = Settings(payments_enabled=True, open_deposits=True)
    async with running(tmp_path, settings) as net:
        other = await account_of(net, await net.control_plane.create_client_key("other"))
        async with net.client() as api:
            mine = await api.post("/api/v1/billing/deposits", json={"amount": "1.00"})
            theirs = await api.post(
                "/api/v1/billing/deposits", json={"amount": "1.00", "account_id": other}
            )
    assert mine.status_code == 201 and theirs.status_code == 403
