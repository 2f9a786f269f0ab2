"""Node authentication on the real HTTP and WebSocket endpoints: every refusal is a 401 in
the Book's envelope with the reason in words and as a tag (`X-Infernet-Auth-Error`)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from infernet.controlplane.settings import Settings
from infernet.protocol.delegation import rotation_statement
from infernet.protocol.keys import NodeKey
from infernet.protocol.signing import sign_request
from tests.protocol.test_keys import reference_verify
from tests.support.harness import Harness, running
from tests.support.signed import (
    channel,
    heartbeat,
    heartbeat_payload,
    new_token,
    register,
    signed_post,
)

HEARTBEAT = "/api/v1/heartbeat"
ROTATE = "/api/v1/node/rotate-key"
NONCE = "0123456789abcdef0123456789abcdef"


def refused(response: httpx.Response, tag: str) -> str:
    """Assert a 401 in the Book's envelope tagged ``tag``; return the reason text."""
    assert response.status_code == 401, response.text
    body = response.json()
    assert set(body) == {"error", "error_message"} and body["error"] == "unauthorized"
    assert response.headers["x-infernet-auth-error"] == tag
    message: str = body["error_message"]
    return message


async def registered(harness: Harness, token: str | None = None) -> NodeKey:
    key = NodeKey.generate()
    assert (await register(harness, key, token)).status_code == 200
    return key


async def channel_refusal(harness: Harness, key: NodeKey) -> tuple[int, str]:
    """Open the job channel with ``key``; return the close code and reason it got."""
    async with channel(harness, key) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_a_registered_key_signing_correctly_is_accepted(harness: Harness) -> None:
    key = await registered(harness)
    response = await heartbeat(harness, key, ["m:1b"])
    assert response.status_code == 200 and response.json()["status"] in ("degraded", "online")


# Whole-second timestamps and a loaded machine make the 30 s edge itself fuzzy by ~1 s.
@pytest.mark.parametrize("skew", [33, -33])
async def test_a_clock_off_by_more_than_30_seconds_is_refused(harness: Harness, skew: int) -> None:
    key = await registered(harness)
    payload = heartbeat_payload(["m:1b"])
    response = await signed_post(harness, key, HEARTBEAT, payload, now=time.time() + skew)
    assert "check the node's clock" in refused(response, "skew")


async def test_a_clock_off_by_less_than_30_seconds_is_fine(harness: Harness) -> None:
    key = await registered(harness)
    payload = heartbeat_payload(["m:1b"])
    response = await signed_post(harness, key, HEARTBEAT, payload, now=time.time() - 20)
    assert response.status_code == 200


async def test_a_nonce_replayed_within_five_minutes_is_refused(harness: Harness) -> None:
    key = await registered(harness)
    payload, now = heartbeat_payload(["m:1b"]), time.time()
    first = await signed_post(harness, key, HEARTBEAT, payload, now=now, nonce=NONCE)
    again = await signed_post(harness, key, HEARTBEAT, payload, now=now, nonce=NONCE)
    assert first.status_code == 200
    assert NONCE in refused(again, "replay")


async def test_a_body_changed_after_signing_is_refused(harness: Harness) -> None:
    key = await registered(harness)
    payload = heartbeat_payload(["m:1b"])
    tampered = httpx.Request("POST", "/", json=heartbeat_payload(["other:7b"])).content
    response = await signed_post(harness, key, HEARTBEAT, payload, body=tampered)
    assert "bad signature" in refused(response, "bad_signature")


async def test_a_signature_made_by_another_key_is_refused(harness: Harness) -> None:
    key, impostor = await registered(harness), NodeKey.generate()
    headers = sign_request(impostor, "POST", HEARTBEAT, b"{}")
    headers["X-Infernet-Node"] = key.public_hex
    async with httpx.AsyncClient(base_url=harness.url) as http:
        response = await http.post(HEARTBEAT, content=b"{}", headers=headers)
    refused(response, "bad_signature")


async def test_unsigned_requests_are_refused(harness: Harness) -> None:
    async with httpx.AsyncClient(base_url=harness.url) as http:
        response = await http.post(HEARTBEAT, json=heartbeat_payload([]))
    assert "missing X-Infernet-Auth" in refused(response, "missing")


async def test_an_unknown_key_is_refused_on_every_node_endpoint(harness: Harness) -> None:
    stranger = NodeKey.generate()
    rotation = rotation_statement(stranger, NodeKey.generate()).model_dump(mode="json")
    calls = [
        (HEARTBEAT, heartbeat_payload(["m:1b"])),
        ("/api/v1/node/commands/cmd_x/ack", {"status": "done"}),
        (ROTATE, rotation),
    ]
    for path, payload in calls:
        reason = refused(await signed_post(harness, stranger, path, payload), "unknown_key")
        assert "infernet register" in reason
    code, reason = await channel_refusal(harness, stranger)
    assert code == 4401 and reason.startswith("unknown key")


async def test_a_revoked_node_is_refused_everywhere_and_its_channel_closes_at_once(
    harness: Harness,
) -> None:
    key = await registered(harness, await new_token(harness))
    node_id = (await register(harness, key)).json()["node_id"]
    assert (await heartbeat(harness, key, ["m:1b"])).status_code == 200
    async with channel(harness, key) as socket:
        async with harness.client() as api:
            revoked = await api.post(f"/api/v1/nodes/{node_id}/revoke")
        assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert closed.value.rcvd.reason.startswith("revoked")
    assert "revoked by its owner" in refused(await heartbeat(harness, key, ["m:1b"]), "revoked")
    refused(await register(harness, key), "revoked")
    code, reason = await channel_refusal(harness, key)
    assert code == 4401 and reason.startswith("revoked")
    state = harness.control_plane.services.registry.get(node_id)
    assert state is not None and state.channel is None and state.revoked


async def test_a_rotated_key_keeps_working_during_its_grace_period(harness: Harness) -> None:
    old = await registered(harness)
    node_id = (await register(harness, old)).json()["node_id"]
    new = NodeKey.generate()
    rotation = rotation_statement(old, new).model_dump(mode="json")
    reply = await signed_post(harness, old, ROTATE, rotation)
    assert reply.status_code == 200, reply.text
    assert reply.json()["node_id"] == node_id and reply.json()["public_key"] == new.public_hex
    for key in (old, new):  # both speak for the same node for now
        beat = await heartbeat(harness, key, ["m:1b"])
        assert beat.status_code == 200 and beat.json()["node_id"] == node_id
    assert (await register(harness, new)).json()["node_id"] == node_id
    again = await signed_post(
        harness, old, ROTATE, rotation_statement(old, NodeKey.generate()).model_dump(mode="json")
    )
    assert again.status_code == 400 and "already rotated" in again.json()["error_message"]


async def test_after_the_grace_period_the_old_key_is_refused_as_rotated(tmp_path: Path) -> None:
    async with running(tmp_path, Settings(key_rotation_grace_s=0)) as harness:
        old, new = await registered(harness), NodeKey.generate()
        rotation = rotation_statement(old, new).model_dump(mode="json")
        assert (await signed_post(harness, old, ROTATE, rotation)).status_code == 200
        reason = refused(await heartbeat(harness, old, ["m:1b"]), "rotated")
        assert new.npub in reason and "Restart the daemon" in reason
        assert (await heartbeat(harness, new, ["m:1b"])).status_code == 200
        code, reason = await channel_refusal(harness, old)
        assert code == 4401 and reason.startswith("rotated")


async def test_a_rotation_needs_both_keys_signatures(harness: Harness) -> None:
    old, new = await registered(harness), NodeKey.generate()
    rotation = rotation_statement(old, new).model_dump(mode="json")
    forged = {**rotation, "new_pubkey": NodeKey.generate().public_hex}
    reason = refused(await signed_post(harness, old, ROTATE, forged), "bad_rotation")
    assert "bad signature" in reason
    other = await registered(harness)
    reason = refused(await signed_post(harness, other, ROTATE, rotation), "bad_rotation")
    assert "old_pubkey" in reason
    taken = rotation_statement(old, other).model_dump(mode="json")
    reply = await signed_post(harness, old, ROTATE, taken)
    assert reply.status_code == 400 and "already used" in reply.json()["error_message"]


async def test_the_channel_closes_with_4401_on_a_bad_handshake_signature(
    harness: Harness,
) -> None:
    key = await registered(harness)
    headers = sign_request(key, "GET", "/somewhere/else")
    url = harness.url.replace("http://", "ws://") + "/api/v1/node/channel"
    from websockets.asyncio.client import connect

    async with connect(url, additional_headers=headers) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert closed.value.rcvd.reason.startswith("bad_signature")


def test_our_header_verifies_with_an_independent_bip340_implementation() -> None:
    """Rebuild the signed message from the Book's recipe alone and check the header with
    the from-scratch verifier in tests/protocol/test_keys.py (no signing.py helpers)."""
    key = NodeKey.generate()
    body, now = b'{"version":"1"}', 1_777_000_000
    headers = sign_request(key, "post", "/api/v1/heartbeat?x=1", body, now=now, nonce=NONCE)
    version, signature, nonce, timestamp = headers["X-Infernet-Auth"].split(".")
    assert (version, nonce, timestamp) == ("v1", NONCE, str(now))
    message = "\n".join(
        ["POST", "/api/v1/heartbeat?x=1", hashlib.sha256(body).hexdigest(), NONCE, str(now)]
    )
    digest = hashlib.sha256(message.encode("utf-8")).digest()
    public = bytes.fromhex(headers["X-Infernet-Node"])
    assert reference_verify(public, digest, bytes.fromhex(signature))
    assert not reference_verify(public, hashlib.sha256(b"other").digest(), bytes.fromhex(signature))
