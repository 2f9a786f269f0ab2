"""The node command queue, end to end: queued over HTTP, delivered in heartbeat responses,
executed once by the real daemon, acknowledged, and visible to whoever issued it; and
model changes reaching the router at once through the sync heartbeat."""

from __future__ import annotations

import asyncio

import httpx

from infernet.localnet import LocalNode
from infernet.node.models import MemoryBudget, ModelManager
from infernet.protocol.wire import Command
from tests.support.harness import Harness
from tests.support.scripted import ScriptedBackend

MESSAGES = [{"role": "user", "content": "hello"}]


async def attach(harness: Harness, backend: ScriptedBackend, served: list[str]) -> LocalNode:
    """A node the harness's account owns (only its owner queues its commands)."""
    node = await harness.add_node(
        backend, served=served, heartbeat_interval_s=30.0, owner=harness.api_key
    )
    node.daemon.config_path = node.config_path
    node.daemon.memory_budget = MemoryBudget(24.0, "VRAM")
    return node


async def wait_status(api: httpx.AsyncClient, command_id: str, *final: str) -> dict[str, object]:
    for _ in range(400):
        body: dict[str, object] = (await api.get(f"/api/v1/commands/{command_id}")).json()
        if body["status"] in final:
            return body
        await asyncio.sleep(0.025)
    raise AssertionError(f"command {command_id} never reached {final}")


async def queue(api: httpx.AsyncClient, node_id: str, type: str, model: str) -> dict[str, object]:
    response = await api.post(
        f"/api/v1/nodes/{node_id}/commands", json={"type": type, "model": model}
    )
    assert response.status_code == 201, response.text
    queued: dict[str, object] = response.json()
    return queued


async def test_a_queued_install_is_delivered_executed_acknowledged_and_routed(
    harness: Harness,
) -> None:
    backend = ScriptedBackend(["a:1b"], backend_name="ollama")
    node = await attach(harness, backend, ["a:1b"])
    assert node.node_id is not None
    async with harness.client() as api:
        queued = await queue(api, node.node_id, "model_install", "smollm2:135m")
        assert queued["status"] == "pending" and queued["issued_at"]
        await node.daemon.sync()  # the next heartbeat carries it (no 30 s wait in a test)
        done = await wait_status(api, str(queued["id"]), "done", "failed")
        listed = (await api.get(f"/api/v1/nodes/{node.node_id}/commands")).json()["commands"]
    assert done["status"] == "done", done
    assert done["completed_at"] is not None
    assert [c["id"] for c in listed] == [queued["id"]]
    assert "smollm2:135m" in backend.models
    assert "smollm2:135m" in node.config_path.read_text()
    await harness.control_plane.wait_serving("smollm2:135m", 1, timeout=1.0)


async def test_a_command_delivered_twice_runs_once(harness: Harness) -> None:
    backend = ScriptedBackend(["a:1b"], backend_name="ollama")
    node = await attach(harness, backend, ["a:1b"])
    assert node.node_id is not None
    async with harness.client() as api:
        queued = await queue(api, node.node_id, "model_install", "smollm2:135m")
        command = Command(
            id=str(queued["id"]), type="model_install", model="smollm2:135m", issued_at="x"
        )
        node.daemon.commands.submit([command, command])
        node.daemon.commands.submit([command])
        await node.daemon.commands.drain()
        node.daemon.commands.submit([command])  # after it finished: re-acked, not re-run
        await node.daemon.commands.drain()
        await wait_status(api, str(queued["id"]), "done")
    assert backend.models.count("smollm2:135m") == 1


async def test_a_failed_command_says_why(harness: Harness) -> None:
    node = await attach(harness, ScriptedBackend(["a:1b"], backend_name="ollama"), ["a:1b"])
    assert node.node_id is not None
    async with harness.client() as api:
        queued = await queue(api, node.node_id, "model_install", "qwen2.5:72b-instruct-fp16")
        await node.daemon.sync()
        failed = await wait_status(api, str(queued["id"]), "done", "failed")
    assert failed["status"] == "failed"
    assert "does not fit" in str(failed["error"])


async def test_a_remove_stops_routing_to_the_node_at_once(harness: Harness) -> None:
    backend = ScriptedBackend(["a:1b", "b:1b"], backend_name="ollama")
    node = await attach(harness, backend, ["a:1b", "b:1b"])
    manager = ModelManager(backend, node.config_path, None, node.daemon.sync)
    outcome = await manager.remove("b:1b")
    assert outcome.synced and outcome.deleted == "b:1b"
    assert harness.control_plane.routable_nodes("b:1b") == 0
    async with harness.client() as api:
        response = await api.post("/api/v1/jobs", json={"model": "b:1b", "messages": MESSAGES})
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "model_not_found"


async def test_an_install_from_the_cli_path_is_routable_without_waiting_for_a_beat(
    harness: Harness,
) -> None:
    backend = ScriptedBackend(["a:1b"], backend_name="ollama")
    node = await attach(harness, backend, ["a:1b"])
    manager = ModelManager(backend, node.config_path, MemoryBudget(24.0, "VRAM"), node.daemon.sync)
    outcome = await manager.install("smollm2:135m")
    assert outcome.synced
    assert harness.control_plane.routable_nodes("smollm2:135m") == 1  # no heartbeat wait


async def test_only_the_owner_may_queue(harness: Harness) -> None:
    """Who else may (admins, the node itself) and a node without owner:
    tests/security/test_ownership.py."""
    node = await attach(harness, ScriptedBackend(["a:1b"], backend_name="ollama"), ["a:1b"])
    assert node.node_id is not None
    other_key = await harness.control_plane.create_client_key("other")
    async with harness.client(other_key) as other:
        refused = await other.post(
            f"/api/v1/nodes/{node.node_id}/commands", json={"type": "model_install", "model": "x"}
        )
        assert refused.status_code == 404
        assert refused.json()["error"] == "not_found"
        bad = await other.post(
            f"/api/v1/nodes/{node.node_id}/commands", json={"type": "reboot", "model": "x"}
        )
        assert bad.status_code in (400, 404)
    async with harness.client() as owner:
        assert (await queue(owner, node.node_id, "model_remove", "a:1b"))["status"] == "pending"


async def test_a_node_cannot_ack_another_nodes_command(harness: Harness) -> None:
    first = await attach(harness, ScriptedBackend(["a:1b"], backend_name="ollama"), ["a:1b"])
    second = await attach(harness, ScriptedBackend(["c:1b"], backend_name="ollama"), ["c:1b"])
    assert first.node_id is not None
    async with harness.client() as api:
        queued = await queue(api, first.node_id, "model_remove", "a:1b")
    from infernet.node.client import ControlPlaneError
    from infernet.node.commands import AckReply
    from infernet.protocol.wire import CommandAck

    try:
        await second.daemon.client.post(
            f"/api/v1/node/commands/{queued['id']}/ack", CommandAck(status="done"), AckReply
        )
    except ControlPlaneError as exc:
        assert "404" in str(exc)
    else:
        raise AssertionError("a foreign ack was accepted")


async def test_the_cli_asks_a_running_daemon_for_a_sync_heartbeat_by_signal(
    harness: Harness,
) -> None:
    import signal

    from infernet.node.status_file import SYNC_SIGNAL, request_sync, status_path

    backend = ScriptedBackend(["a:1b"], backend_name="ollama")
    node = await attach(harness, backend, ["a:1b"])
    await node.daemon.sync()  # writes the status file (this process's pid)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(SYNC_SIGNAL, node.daemon.request_sync)
    try:

        async def cli_sync() -> bool:
            return await request_sync(status_path(node.config_path)) is not None

        manager = ModelManager(backend, node.config_path, MemoryBudget(24.0, "VRAM"), cli_sync)
        outcome = await manager.install("smollm2:135m")
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    assert outcome.synced
    assert harness.control_plane.routable_nodes("smollm2:135m") == 1
