"""A rogue node: written apart from the node daemon (its own BIP-340 signing on coincurve,
its own use of a WebSocket client), so a test can say anything a node could say on the
wire, byte for byte, and lie in every field: usage, text length, job ids, attempts,
frame types.

It follows the protocol only as far as a test asks: `join` registers and heartbeats like
a node (so the router will send it jobs), `assignment` waits for the next job pushed down
its channel, `send` puts any text or bytes on the channel.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from typing import Any

import httpx
from coincurve import PrivateKey
from websockets.asyncio.client import ClientConnection, connect

CHANNEL_PATH = "/api/v1/node/channel"


class RogueNode:
    def __init__(self, url: str, name: str = "rogue") -> None:
        self.url, self.name = url, name
        self._secret = PrivateKey()
        self.public_hex = self._secret.public_key_xonly.format().hex()
        self.node_id: str | None = None
        self.socket: ClientConnection | None = None

    def auth_headers(self, method: str, target: str, body: bytes = b"") -> dict[str, str]:
        """`X-Infernet-Auth` as the Book describes it: BIP-340 over SHA-256 of
        METHOD, path, body SHA-256, nonce and timestamp, one per line."""
        nonce, timestamp = os.urandom(16).hex(), str(int(time.time()))
        lines = [method.upper(), target, hashlib.sha256(body).hexdigest(), nonce, timestamp]
        digest = hashlib.sha256("\n".join(lines).encode()).digest()
        signature = self._secret.sign_schnorr(digest, os.urandom(32)).hex()
        return {
            "X-Infernet-Auth": f"v1.{signature}.{nonce}.{timestamp}",
            "X-Infernet-Node": self.public_hex,
        }

    async def request(
        self, method: str, path: str, payload: object | None = None
    ) -> httpx.Response:
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = {"content-type": "application/json", **self.auth_headers(method, path, body)}
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            return await http.request(method, path, content=body, headers=headers)

    async def join(self, models: Sequence[str], token: str | None = None) -> str:
        """Register (with an owner's token, if given) and heartbeat serving `models`."""
        registered = await self.request(
            "POST",
            "/api/v1/node/register",
            {"public_key": self.public_hex, "name": self.name, "registration_token": token},
        )
        assert registered.status_code == 200, registered.text
        self.node_id = str(registered.json()["node_id"])
        await self.heartbeat(models)
        return self.node_id

    async def heartbeat(self, models: Sequence[str], healthy: bool = True) -> httpx.Response:
        beat = {
            "version": "rogue",
            "backend": "llamacpp",
            "backend_healthy": healthy,
            "served_models": [{"name": m} for m in models],
        }
        answer = await self.request("POST", "/api/v1/heartbeat", beat)
        assert answer.status_code == 200, answer.text
        return answer

    async def open_channel(self) -> ClientConnection:
        url = self.url.replace("http://", "ws://") + CHANNEL_PATH
        self.socket = await connect(
            url, additional_headers=self.auth_headers("GET", CHANNEL_PATH), max_size=2**24
        )
        return self.socket

    async def assignment(self) -> dict[str, Any]:
        """The next job the control plane pushes (cancels are skipped)."""
        assert self.socket is not None
        while True:
            message: dict[str, Any] = json.loads(await self.socket.recv())
            if message.get("type") == "job":
                return message

    async def send(self, *frames: str | bytes | dict[str, Any]) -> None:
        """Each frame as given: a dict as JSON text, bytes as a binary frame."""
        assert self.socket is not None
        for frame in frames:
            await self.socket.send(json.dumps(frame) if isinstance(frame, dict) else frame)

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
            self.socket = None


def token(job: dict[str, Any], text: str, **lies: Any) -> dict[str, Any]:
    return {
        "type": "token",
        "job_id": job["job_id"],
        "attempt": job["attempt"],
        "text": text,
        **lies,
    }


def done(job: dict[str, Any], prompt: Any, completion: Any, **lies: Any) -> dict[str, Any]:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    return {
        "type": "done",
        "job_id": job["job_id"],
        "attempt": job["attempt"],
        "usage": usage,
        **lies,
    }
