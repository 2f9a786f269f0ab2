"""A replica's `Cluster` on the in-memory bus made to act shared (as with Redis: slot
reservations and channel moves go through the bus), with no caches to invalidate."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from infernet.controlplane.bus.base import Bus, ChannelMap, SlotBook
from infernet.controlplane.bus.memory import MemoryBus
from infernet.controlplane.jobs.cluster import Caches, Cluster
from infernet.controlplane.jobs.owner import JobOwner
from infernet.controlplane.nodes.registry import NodeRegistry


def shared_cluster(
    *,
    owner: object = None,
    registry: NodeRegistry | None = None,
    slots: SlotBook | None = None,
    channels: ChannelMap | None = None,
) -> Cluster:
    bus = MemoryBus("here")
    bus.shared = True
    if slots is not None:
        bus.slots = slots
    if channels is not None:
        bus.channels = channels
    caches = SimpleNamespace(forget=lambda _: None, forget_key=lambda _: None)
    registry = NodeRegistry(90) if registry is None else registry
    return Cluster(cast(Bus, bus), registry, cast(JobOwner, owner), cast(Caches, caches))
