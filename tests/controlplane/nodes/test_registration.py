"""Who may join: one-time registration tokens, owner approval on private networks,
user-key delegations, owner-only decisions, and no private key ever leaving a node."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from sqlalchemy import update

from infernet.cli.register import send_registration
from infernet.controlplane.settings import Settings
from infernet.controlplane.store.tables import registration_tokens
from infernet.node.config import load_config
from infernet.protocol.delegation import delegate_node
from infernet.protocol.keys import NodeKey
from tests.controlplane.nodes.test_node_auth import refused
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend
from tests.support.signed import heartbeat, new_token, register

PRIVATE = Settings(open_registration=False, require_node_approval=True)
MESSAGES = [{"role": "user", "content": "capital of France?"}]


@pytest_asyncio.fixture
async def private(tmp_path: Path, database_url: str | None) -> AsyncIterator[Harness]:
    async with running(tmp_path, PRIVATE, database_url=database_url) as harness:
        yield harness


async def wait_for(condition: Any, what: str) -> None:
    for _ in range(400):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_an_owner_creates_one_time_tokens_valid_for_24_hours(harness: Harness) -> None:
    async with harness.client() as api:
        first = (await api.post("/api/v1/nodes/registration-tokens")).json()
        second = (await api.post("/api/v1/nodes/registration-tokens")).json()
    assert re.fullmatch(r"inft_reg_[A-Za-z0-9]{20}", first["token"])
    assert first["token"] != second["token"]
    expires = datetime.fromisoformat(first["expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)


async def test_creating_a_token_needs_an_api_key(harness: Harness) -> None:
    async with harness.client(api_key="") as api:
        response = await api.post("/api/v1/nodes/registration-tokens")
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"


async def test_without_open_registration_a_node_needs_a_token(private: Harness) -> None:
    reason = refused(await register(private, NodeKey.generate()), "token_required")
    assert "infernet register --token" in reason


async def test_a_token_gives_the_node_to_the_owners_account_once(private: Harness) -> None:
    token = await new_token(private)
    reply = await register(private, NodeKey.generate(), token)
    assert reply.status_code == 200
    assert reply.json()["status"] == "pending_approval"
    async with private.client() as api:
        mine = (await api.get("/api/v1/nodes")).json()["nodes"]
    assert [n["id"] for n in mine] == [reply.json()["node_id"]]
    assert reply.json()["account_id"] is not None
    assert "one-time" in refused(await register(private, NodeKey.generate(), token), "token_used")


async def test_malformed_unknown_and_expired_tokens_are_refused(private: Harness) -> None:
    key = NodeKey.generate()
    assert "Malformed" in refused(await register(private, key, "inft_reg_short"), "token_invalid")
    unknown = "inft_reg_" + "A" * 20
    assert "Unknown" in refused(await register(private, key, unknown), "token_invalid")
    token = await new_token(private)
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with private.control_plane.services.db.begin() as conn:
        await conn.execute(update(registration_tokens).values(expires_at=past))
    assert "expired" in refused(await register(private, key, token), "token_expired")


async def test_registering_again_with_the_same_key_is_idempotent(private: Harness) -> None:
    key, token, spare = NodeKey.generate(), await new_token(private), await new_token(private)
    first = (await register(private, key, token)).json()
    again = (await register(private, key, spare)).json()
    without = (await register(private, key)).json()
    assert first["node_id"] == again["node_id"] == without["node_id"]
    other = await register(private, NodeKey.generate(), spare)
    assert other.status_code == 200, "the spare token was not used up by the repeat"


async def test_a_pending_node_gets_no_jobs_until_its_owner_approves(private: Harness) -> None:
    key_file = private.home / "node0" / "keys" / "node.key"
    key = NodeKey.generate()
    key.save(key_file)
    node_id = (await register(private, key, await new_token(private))).json()["node_id"]
    await private.add_node(ScriptedBackend(["m:1b"]), wait=False)
    registry = private.control_plane.services.registry
    await wait_for(
        lambda: (s := registry.get(node_id)) is not None and s.channel is not None and s.served,
        "the pending node's channel is open",
    )
    assert (await heartbeat(private, key, ["m:1b"])).json()["status"] == "pending_approval"
    async with private.client() as api:
        # A pending node is not part of the network: its models are not offered.
        refused = await api.post("/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES})
        models = (await api.get("/api/v1/models")).json()["models"]
        pending = (await api.get("/api/v1/nodes", params={"status": "pending_approval"})).json()
        approved = await api.post(f"/api/v1/nodes/{node_id}/approve")
        assert refused.status_code == 404 and models == []
        assert [n["id"] for n in pending["nodes"]] == [node_id]
        assert approved.status_code == 200 and approved.json()["status"] != "pending_approval"
        job = (await api.post("/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES})).json()
        for _ in range(400):
            done = (await api.get(f"/api/v1/jobs/{job['id']}")).json()
            if done["status"] == "completed":
                break
            await asyncio.sleep(0.05)
    assert done["status"] == "completed" and done["node_id"] == node_id
    assert (await heartbeat(private, key, ["m:1b"])).json()["status"] != "pending_approval"


async def test_only_the_owner_sees_and_decides_about_a_node(private: Harness) -> None:
    node_id = (await register(private, NodeKey.generate(), await new_token(private))).json()[
        "node_id"
    ]
    stranger = await private.control_plane.create_client_key("stranger")
    async with private.client(stranger) as api:
        assert (await api.get("/api/v1/nodes")).json() == {"nodes": []}
        for action in ("approve", "revoke"):
            response = await api.post(f"/api/v1/nodes/{node_id}/{action}")
            assert response.status_code == 404 and response.json()["error"] == "not_found"


async def test_a_user_delegation_is_verified_and_its_user_key_recorded(harness: Harness) -> None:
    user, node = NodeKey.generate(), NodeKey.generate()
    token = await new_token(harness)
    delegation = delegate_node(user, node.public_hex).model_dump(mode="json")
    reply = await register(harness, node, token, delegation=delegation)
    assert reply.status_code == 200, reply.text
    async with harness.client() as api:
        listed = (await api.get("/api/v1/nodes")).json()["nodes"]
    assert listed[0]["user_pubkey"] == user.public_hex
    for_other = delegate_node(user, NodeKey.generate().public_hex).model_dump(mode="json")
    reason = refused(await register(harness, node, delegation=for_other), "bad_delegation")
    assert "another node key" in reason
    forged = {**delegation, "user_pubkey": NodeKey.generate().public_hex}
    refused(await register(harness, NodeKey.generate(), delegation=forged), "bad_delegation")
    old = delegate_node(user, node.public_hex, now=1_000, expires_at=2_000)
    reason = refused(
        await register(harness, node, delegation=old.model_dump(mode="json")), "bad_delegation"
    )
    assert "expired" in reason


class Recorder:
    """ASGI middleware keeping every request's path, headers and body (WebSocket frames
    included): all the control plane ever receives."""

    def __init__(self, app: Any, sink: list[dict[str, Any]]) -> None:
        self.app, self.sink = app, sink

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        entry: dict[str, Any] = {"path": scope["path"], "data": bytearray()}
        entry["data"] += b"".join(k + b": " + v for k, v in scope["headers"])
        self.sink.append(entry)

        async def recording() -> Any:
            message = await receive()
            entry["data"] += message.get("body") or message.get("bytes") or b""
            entry["data"] += (message.get("text") or "").encode()
            return message

        await self.app(scope, recording, send)


async def test_no_private_key_ever_leaves_the_node(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    harness = Harness(tmp_path)
    harness.control_plane.app.add_middleware(Recorder, sink=seen)
    await harness.start()
    try:
        user = NodeKey.generate()
        node = await harness.add_node(ScriptedBackend(["m:1b"]))
        config = load_config(node.config_path)
        delegation = delegate_node(user, node.key.public_hex)
        await send_registration(config, node.key, await new_token(harness), delegation)
        async with harness.client() as api:
            job = (
                await api.post("/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES})
            ).json()
            for _ in range(400):
                shown = (await api.get(f"/api/v1/jobs/{job['id']}")).json()
                if shown["status"] in ("completed", "failed"):
                    break
                await asyncio.sleep(0.05)
    finally:
        await harness.stop()
    model_keys = list((node.config_path.parent / "keys" / "models").glob("*.key"))
    assert shown["status"] == "completed" and shown["provenance"]["verified"] is True
    assert model_keys, "the job's model got its own key"
    secrets = [node.key.private_hex, node.key.nsec, user.private_hex, user.nsec]
    secrets += [NodeKey.load(path).private_hex for path in model_keys]
    everything = b"\n".join(bytes(e["data"]) for e in seen).lower()
    assert {e["path"] for e in seen} >= {"/api/v1/node/register", "/api/v1/heartbeat"}
    assert node.key.public_hex.encode() in everything
    for secret in secrets:
        assert secret.lower().encode() not in everything
