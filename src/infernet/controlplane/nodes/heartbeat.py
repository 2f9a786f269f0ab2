"""A node's heartbeat, as the control plane takes it in (Book §3.1, the hot path of a
large network: every node, every few seconds).

The signer is identified through the identity cache, the beat updates the node's live
state in the registry (its slowly changing facts are written to the database only when
they change), live dashboard pages and the other replicas hear of it, waiting jobs may
start, and the reply carries the node's status, the interval the control plane wants
and the commands queued for the node. With warm caches no database is touched.
"""

from __future__ import annotations

import time

from infernet.controlplane.nodes.registry import NodeState
from infernet.controlplane.services import Services
from infernet.controlplane.store import nodes as node_store
from infernet.controlplane.store.ids import iso
from infernet.protocol.wire import Command, Heartbeat, HeartbeatResponse, NodeHello


async def known_node(services: Services, public_key: str) -> NodeState:
    """The node this verified key acts for; a 401 saying why not (unknown_key, revoked,
    rotated: controlplane/nodes/auth.py). Trust flags come from the nodes table through the
    identity cache, which every change to them clears on every replica (nodes/cache.py)."""
    identity = await services.caches.identities.identify(services.db, public_key)
    node = services.registry.ensure(identity.node_id, identity.public_key)
    node.public_key, node.approved, node.revoked = identity.public_key, identity.approved, False
    node.offences = max(node.offences, identity.offences)
    return node


async def receive_heartbeat(
    services: Services, node: NodeState, beat: Heartbeat
) -> HeartbeatResponse:
    """Apply `beat` from `node` and answer it."""
    await apply_beat(services, node, beat)
    reply = HeartbeatResponse(
        node_id=node.node_id,
        status=node.status(time.monotonic(), services.registry.offline_after_s)
        if node.approved
        else "pending_approval",
        heartbeat_interval_s=services.settings.heartbeat_interval_s,
        commands=await open_commands(services, node.node_id),
    )
    return reply


async def receive_hello(services: Services, node: NodeState, hello: NodeHello) -> None:
    """A node (re)opened its job channel with its state and running attempts: routable at
    once, even by a control plane that just restarted (no wait for the next beat)."""
    await apply_beat(services, node, hello.heartbeat)
    await services.jobs.still_running(node.node_id, hello.running)


async def apply_beat(services: Services, node: NodeState, beat: Heartbeat) -> None:
    """The node's state, from a heartbeat or a hello: into the registry (and its slowly
    changing facts into the database), to live pages and the other replicas."""
    if services.registry.apply_heartbeat(node, beat):
        await node_store.save_node_facts(
            services.db,
            node.node_id,
            served_models=[m.name for m in beat.served_models],
            backend=beat.backend,
            version=beat.version,
            vram_tier=beat.vram_tier,
            status="online",
        )
    services.samples.record(node.node_id, beat)  # GPU utilization charts (nodes/samples.py)
    services.events.publish(f"node:{node.node_id}", beat)  # live dashboard pages
    services.events.publish("nodes", node.node_id)
    await services.jobs.heartbeat(node, beat)  # other replicas apply it too


async def open_commands(services: Services, node_id: str) -> list[Command]:
    """Queued commands ride on every heartbeat response until the node acks them final
    (ack route and queue API: `api/commands.py`)."""
    rows = await services.caches.open_commands.open_commands(services.db, node_id)
    return [
        Command(id=r["id"], type=r["type"], model=r["model"], issued_at=iso(r["issued_at"]) or "")
        for r in rows
    ]
