"""Client accounts and API keys through the API: sign-up (open or by invite), keys shown
once, listed without secrets, each with its own limits, and revocation that bites at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio
from sqlalchemy import func, select

from infernet.controlplane.settings import Settings
from infernet.controlplane.store.invites import create_invite
from infernet.controlplane.store.tables import accounts
from tests.support.harness import Harness, running


@pytest_asyncio.fixture
async def invite_only(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(tmp_path, Settings(require_invite=True)) as h:
        yield h


def test_a_keys_default_limits_are_the_books_60_a_minute_and_1000_an_hour() -> None:
    settings = Settings()
    assert (settings.key_requests_per_minute, settings.key_requests_per_hour) == (60, 1000)


async def account_count(harness: Harness) -> int:
    async with harness.control_plane.services.db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(accounts))).scalar_one())


async def test_anyone_can_sign_up_and_use_the_key_they_get_once(harness: Harness) -> None:
    async with harness.client(api_key="") as anonymous:
        created = await anonymous.post("/api/v1/accounts", json={"name": "ada"})
    assert created.status_code == 201
    body = created.json()
    key = body["api_key"]["key"]
    assert key.startswith("inft_sk_") and key.startswith(body["api_key"]["prefix"])
    assert body["api_key"]["limits"] == {
        "requests_per_minute": harness.settings.key_requests_per_minute,
        "requests_per_hour": harness.settings.key_requests_per_hour,
    }
    async with harness.client(key) as api:
        me = (await api.get("/api/v1/account")).json()
        listed = (await api.get("/api/v1/keys")).json()["keys"]
    assert me["id"] == body["account"]["id"] and me["name"] == "ada"
    assert me["key"]["id"] == body["api_key"]["id"]
    assert [k["id"] for k in listed] == [body["api_key"]["id"]]
    assert "key" not in listed[0] and key not in str(listed)
    assert listed[0]["last_used_at"] is not None


async def test_an_invite_only_control_plane_needs_an_unused_code(invite_only: Harness) -> None:
    invite = await create_invite(invite_only.control_plane.services.db, "for bob")
    before = await account_count(invite_only)
    async with invite_only.client(api_key="") as anonymous:
        without = await anonymous.post("/api/v1/accounts", json={"name": "bob"})
        wrong = await anonymous.post(
            "/api/v1/accounts", json={"name": "bob", "invite_code": "inft_inv_made-up"}
        )
        right = await anonymous.post(
            "/api/v1/accounts", json={"name": "bob", "invite_code": invite.code}
        )
        again = await anonymous.post(
            "/api/v1/accounts", json={"name": "eve", "invite_code": invite.code}
        )
    assert without.status_code == wrong.status_code == again.status_code == 403
    assert without.json()["error"] == "forbidden"
    assert "infernet cp invite" in without.json()["error_message"]
    assert "already been used" in again.json()["error_message"]
    assert right.status_code == 201
    assert await account_count(invite_only) == before + 1  # refused sign-ups left nothing


async def test_a_new_key_can_have_its_own_limits_within_the_ceiling(harness: Harness) -> None:
    async with harness.client() as api:
        created = await api.post(
            "/api/v1/keys",
            json={"name": "batch", "requests_per_minute": 5, "requests_per_hour": 50},
        )
        too_high = await api.post("/api/v1/keys", json={"requests_per_minute": 10**6})
        listed = (await api.get("/api/v1/keys")).json()["keys"]
    assert created.status_code == 201
    assert created.json()["limits"] == {"requests_per_minute": 5, "requests_per_hour": 50}
    assert created.json()["name"] == "batch"
    assert too_high.status_code == 400 and too_high.json()["error"] == "bad_request"
    assert "requests_per_minute" in too_high.json()["error_message"]
    assert [k["name"] for k in listed] == ["tester", "batch"]


async def test_a_revoked_key_is_refused_from_the_next_request_on(harness: Harness) -> None:
    async with harness.client() as api:
        created = (await api.post("/api/v1/keys", json={"name": "temp"})).json()
    async with harness.client(created["key"]) as temp:
        assert (await temp.get("/api/v1/models")).status_code == 200
    async with harness.client() as api:
        revoked = await api.delete(f"/api/v1/keys/{created['id']}")
        listed = {k["id"]: k for k in (await api.get("/api/v1/keys")).json()["keys"]}
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert listed[created["id"]]["revoked_at"] is not None
    async with harness.client(created["key"]) as temp:
        refused = await temp.get("/api/v1/models")
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"


async def test_keys_of_other_accounts_cannot_be_seen_or_revoked(harness: Harness) -> None:
    other = await harness.control_plane.create_client_key("someone else")
    async with harness.client(other) as them:
        their_key_id = (await them.get("/api/v1/account")).json()["key"]["id"]
    async with harness.client() as api:
        refused = await api.delete(f"/api/v1/keys/{their_key_id}")
        mine = [k["id"] for k in (await api.get("/api/v1/keys")).json()["keys"]]
    assert refused.status_code == 404 and refused.json()["error"] == "not_found"
    assert their_key_id not in mine
    async with harness.client(other) as them:
        assert (await them.get("/api/v1/account")).status_code == 200


async def test_account_routes_need_a_key(harness: Harness) -> None:
    async with httpx.AsyncClient(base_url=harness.url) as anonymous:
        for method, path in (("GET", "/api/v1/account"), ("GET", "/api/v1/keys")):
            response = await anonymous.request(method, path)
            assert response.status_code == 401, path
            assert response.json()["error"] == "unauthorized"
