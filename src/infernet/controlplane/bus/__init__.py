"""Cross-replica messaging and shared hot state (see base.py); `build_bus` picks one."""

from __future__ import annotations

from infernet.controlplane.bus.base import Bus
from infernet.controlplane.bus.memory import MemoryBus


def build_bus(redis_url: str | None, replica_id: str | None = None) -> Bus:
    """In-process when `redis_url` is None (one control plane), else Redis (N replicas)."""
    if redis_url is None:
        return MemoryBus(replica_id)
    from infernet.controlplane.bus.redis import RedisBus

    return RedisBus(redis_url, replica_id)


__all__ = ["Bus", "MemoryBus", "build_bus"]
