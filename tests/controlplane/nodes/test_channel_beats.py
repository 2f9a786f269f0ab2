"""Heartbeats over the job channel: a node whose channel is open beats over it (its key
signed the handshake once), and the control plane applies and answers the beat as it does
`POST /api/v1/heartbeat`, reading the key's trust again on every beat."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosed

from infernet.controlplane.store import node_keys
from infernet.controlplane.store.ids import utcnow
from infernet.protocol.keys import NodeKey
from infernet.protocol.wire import HeartbeatResponse
from tests.support.harness import Harness
from tests.support.scripted import ScriptedBackend
from tests.support.signed import channel, heartbeat, heartbeat_payload, next_message, register


async def joined(harness: Harness) -> tuple[NodeKey, str]:
    key = NodeKey.generate()
    node_id = str((await register(harness, key)).json()["node_id"])
    assert (await heartbeat(harness, key, ["m:1b"])).status_code == 200
    return key, node_id


def beat(models: list[str]) -> str:
    return json.dumps({"type": "beat", "heartbeat": heartbeat_payload(models)})


async def test_a_beat_on_the_channel_is_applied_and_answered_like_an_http_one(
    harness: Harness,
) -> None:
    key, node_id = await joined(harness)
    async with channel(harness, key) as socket:
        await socket.send(beat(["m:1b", "m:7b"]))
        reply = await next_message(socket)
        assert harness.control_plane.routable_nodes("m:7b") == 1, "the beat was applied"
    assert reply["type"] == "beat_reply"
    answer = HeartbeatResponse.model_validate(reply["reply"])
    assert answer.node_id == node_id and answer.status == "online"
    assert answer.heartbeat_interval_s == harness.settings.heartbeat_interval_s


async def test_a_beat_from_a_key_revoked_since_the_handshake_closes_the_channel(
    harness: Harness,
) -> None:
    key, node_id = await joined(harness)
    services = harness.control_plane.services
    async with channel(harness, key) as socket:
        # Revoked as another replica would: the database and this replica's cache only
        # (no close of this socket by the revoking request).
        await node_keys.revoke(services.db, node_id, utcnow())
        services.caches.forget(node_id)
        await socket.send(beat(["m:1b"]))
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert closed.value.rcvd.reason.startswith(f"revoked: node {node_id}'s key was revoked")


async def test_a_node_daemon_beats_over_its_open_channel_not_over_http(
    harness: Harness,
) -> None:
    node = await harness.add_node(ScriptedBackend(["m:1b"]))
    daemon = node.daemon
    assert daemon is not None
    # The control plane counts the channel open a moment before the node's writer on it
    # is up (its hello is being built); a beat in that moment goes over HTTP, rightly.
    async with asyncio.timeout(10):
        while daemon._outbox is None:
            await asyncio.sleep(0.01)
    posted: list[str] = []
    post = daemon.client.post

    async def recording(path: str, *args: object, **kwargs: object) -> object:
        posted.append(path)
        return await post(path, *args, **kwargs)  # type: ignore[arg-type]

    daemon.client.post = recording  # type: ignore[method-assign]
    reply = await daemon.heartbeat()
    assert reply.node_id == node.node_id and reply.status == "online"
    assert "/api/v1/heartbeat" not in posted


async def test_a_beat_the_control_plane_cannot_take_leaves_the_channel_open(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Closing the channel would lose the attempts' messages in flight on it (seen with two
    # replicas when Redis restarted: a job's answer lost, the job stalled for a minute).
    key, node_id = await joined(harness)
    services = harness.control_plane.services
    healthy, refused = services.jobs.heartbeat, []

    async def redis_away(*args: object) -> None:
        refused.append(args)
        raise ConnectionError("Error 111 connecting to Redis")

    async with channel(harness, key) as socket:
        monkeypatch.setattr(services.jobs, "heartbeat", redis_away)
        await socket.send(beat(["m:1b"]))  # not answered: the node will beat over HTTP
        async with asyncio.timeout(10):
            while not refused:
                await asyncio.sleep(0.01)
        monkeypatch.setattr(services.jobs, "heartbeat", healthy)
        await socket.send(beat(["m:1b"]))
        reply = await next_message(socket)
    assert reply["type"] == "beat_reply" and reply["reply"]["node_id"] == node_id
