"""Speaking to the control plane as a node would, byte for byte: signed requests with
pinned nonces and clocks, and a hand-driven job channel, for tests of what the control
plane accepts and refuses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from infernet.protocol.keys import NodeKey
from infernet.protocol.signing import sign_request
from infernet.protocol.wire import NODE_CHANNEL_PATH
from tests.support.harness import Harness


def body_of(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload).encode()


async def signed_post(
    harness: Harness,
    key: NodeKey,
    path: str,
    payload: Mapping[str, Any],
    *,
    now: float | None = None,
    nonce: str | None = None,
    body: bytes | None = None,
) -> httpx.Response:
    """POST ``payload`` signed by ``key``; ``body`` replaces the bytes actually sent."""
    signed = body_of(payload)
    headers = {"content-type": "application/json"}
    headers.update(sign_request(key, "POST", path, signed, now=now, nonce=nonce))
    async with httpx.AsyncClient(base_url=harness.url, timeout=30) as http:
        return await http.post(path, content=signed if body is None else body, headers=headers)


async def register(
    harness: Harness, key: NodeKey, token: str | None = None, **extra: Any
) -> httpx.Response:
    payload = {"public_key": key.public_hex, "name": "test", "registration_token": token}
    return await signed_post(harness, key, "/api/v1/node/register", {**payload, **extra})


def heartbeat_payload(models: list[str]) -> dict[str, Any]:
    return {
        "version": "test",
        "backend": "llamacpp",
        "backend_healthy": True,
        "served_models": [{"name": m} for m in models],
    }


async def heartbeat(harness: Harness, key: NodeKey, models: list[str]) -> httpx.Response:
    return await signed_post(harness, key, "/api/v1/heartbeat", heartbeat_payload(models))


def channel(harness: Harness, key: NodeKey) -> Any:
    """An async context manager: the job channel, opened with a signed handshake."""
    url = harness.url.replace("http://", "ws://") + NODE_CHANNEL_PATH
    return connect(url, additional_headers=sign_request(key, "GET", NODE_CHANNEL_PATH))


async def next_message(socket: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await socket.recv())
    return message


async def new_token(harness: Harness, api_key: str | None = None) -> str:
    async with harness.client(api_key) as api:
        response = await api.post("/api/v1/nodes/registration-tokens")
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token
