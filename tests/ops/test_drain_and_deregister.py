"""A draining node finishes its jobs, takes no new ones, and exits; a deregistered node
is gone from routing and its key no longer works."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from infernet.controlplane.api.node_lifecycle import DeregisterRequest, DeregisterResponse
from infernet.controlplane.jobs.router import route
from infernet.node.client import ControlPlaneError
from infernet.protocol.modelnames import routing_key
from tests.support.harness import running
from tests.support.scripted import ScriptedBackend

MESSAGES = [{"role": "user", "content": "Count."}]


async def test_drain_finishes_the_running_job_refuses_new_ones_and_stops(tmp_path: Path) -> None:
    async with running(tmp_path) as harness:
        backend = ScriptedBackend(["m:1b"], tokens=["a", "b", "c", "d"], delay_s=0.2)
        node = await harness.add_node(backend)
        services = harness.control_plane.services
        async with harness.client() as api:
            job_id = (
                await api.post("/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES})
            ).json()["id"]
            while not node.daemon.running:
                await asyncio.sleep(0.02)
            drain = asyncio.create_task(node.daemon.drain())
            while not node.daemon.draining:
                await asyncio.sleep(0.01)
            await asyncio.wait_for(drain, 30)
            for _ in range(100):  # the node sent its result; the control plane records it
                job = (await api.get(f"/api/v1/jobs/{job_id}")).json()
                if job["status"] != "processing":
                    break
                await asyncio.sleep(0.05)
        state = services.registry.get(node.node_id or "")
        assert state is not None and state.draining
        decision = route(services.registry.serving(routing_key("m:1b")), routing_key("m:1b"), 90)
        assert decision.node is None
        assert decision.rejected == {state.node_id: "draining"}
    assert job["status"] == "completed"
    assert job["result"]["content"] == "abcd"
    assert node.daemon.metrics.jobs.labels("completed")._value.get() == 1


async def test_deregister_revokes_the_key_and_takes_the_node_out_of_routing(tmp_path: Path) -> None:
    async with running(tmp_path) as harness:
        node = await harness.add_node(ScriptedBackend(["m:1b"]))
        daemon = node.daemon
        reply = await daemon.client.post(
            "/api/v1/node/deregister", DeregisterRequest(reason="test"), DeregisterResponse
        )
        assert reply.node_id == node.node_id and reply.status == "deregistered"
        services = harness.control_plane.services
        assert services.registry.online_models().get(routing_key("m:1b")) is None
        with pytest.raises(ControlPlaneError, match="401"):
            await daemon.heartbeat()
        async with harness.client() as api:
            refused = await api.post("/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES})
        assert refused.status_code == 404
