"""Where a node's job channel is, as other replicas hear it: the shared channel map's word
when it can be read (events of two replicas can cross), else the event's own. A failed
read used to drop the event, and jobs went on to the old replica, each answered
undeliverable, until the next resync."""

from __future__ import annotations

from types import SimpleNamespace

from redis.exceptions import ConnectionError as RedisConnectionError

from infernet.controlplane.bus.events import ChannelMoved
from infernet.controlplane.bus.memory import MemoryChannelMap
from infernet.controlplane.jobs.cluster import Cluster, RemoteChannel
from infernet.controlplane.nodes.registry import NodeRegistry, NodeState
from tests.support.cluster import shared_cluster


class ChannelMap(MemoryChannelMap):
    """The shared channel map, unreadable while `down`."""

    down = False

    async def where(self, node_id: str) -> str | None:
        if self.down:
            raise RedisConnectionError("Connection closed by server.")
        return await super().where(node_id)


async def _nothing(*_args: object, **_kwargs: object) -> None:
    return None


def replica() -> tuple[Cluster, ChannelMap, NodeState]:
    channels, registry = ChannelMap(), NodeRegistry(90)
    owner = SimpleNamespace(node_lost=_nothing, dispatch_waiting=_nothing)
    cluster = shared_cluster(owner=owner, registry=registry, channels=channels)
    return cluster, channels, registry.ensure("node-1", "ab" * 32)


def held_by(node: NodeState) -> str | None:
    return node.channel.replica_id if isinstance(node.channel, RemoteChannel) else None


async def test_the_channel_map_decides_where_a_node_is() -> None:
    cluster, channels, node = replica()
    await channels.claim("node-1", "b")
    await cluster.handle(ChannelMoved(node_id="node-1", replica_id="c", open=True))
    assert held_by(node) == "b"  # the event from c came after the node had moved on to b


async def test_with_the_map_unreadable_the_event_is_taken_at_its_word() -> None:
    cluster, channels, node = replica()
    channels.down = True
    await cluster.handle(ChannelMoved(node_id="node-1", replica_id="b", open=True))
    assert held_by(node) == "b"
    # A close at a, heard after the node opened at b: b still holds it.
    await cluster.handle(ChannelMoved(node_id="node-1", replica_id="a", open=False))
    assert held_by(node) == "b"
    await cluster.handle(ChannelMoved(node_id="node-1", replica_id="b", open=False))
    assert node.channel is None
