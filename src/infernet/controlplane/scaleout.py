"""What a control plane shares with its sibling replicas, chosen by `Settings.redis_url`:
the bus (cluster.py), the per-key rate limiter and the node-auth nonce cache. With no
Redis URL everything is this process's memory (the embedded default)."""

from __future__ import annotations

from dataclasses import dataclass

from infernet.controlplane.bus import Bus, build_bus
from infernet.controlplane.limits.rates import InMemoryRateLimiter, RateLimiter
from infernet.controlplane.settings import Settings
from infernet.protocol.signing import MemoryNonceStore, NonceStore


@dataclass
class Shared:
    bus: Bus
    limiter: RateLimiter
    nonces: NonceStore


def build_shared(settings: Settings) -> Shared:
    bus = build_bus(settings.redis_url, settings.replica_id)
    if settings.redis_url is None:
        return Shared(bus, InMemoryRateLimiter(), MemoryNonceStore())
    from infernet.controlplane.bus.redis import RedisBus
    from infernet.controlplane.limits.redis import RedisNonceStore, RedisRateLimiter

    assert isinstance(bus, RedisBus)
    return Shared(bus, RedisRateLimiter(bus.client), RedisNonceStore(settings.redis_url))
