"""What one running control plane is made of, built once by `create_app` (app.py).

`Services` is what request handlers and background tasks reach through `app.state`;
`Shared` is what a control plane shares with its sibling replicas, chosen by
`Settings.redis_url`: the bus (jobs/cluster.py), the per-key rate limiter and the
node-auth nonce cache. With no Redis URL the bus and the limiter are this process's
memory and the nonces are kept in the database (limits/nonces.py), so a restart forgets
none.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.bus import Bus, build_bus
from infernet.controlplane.dashboard.hub import EventHub
from infernet.controlplane.jobs.manager import JobManager
from infernet.controlplane.limits.rates import InMemoryRateLimiter, RateLimiter
from infernet.controlplane.money.payments import Payments
from infernet.controlplane.nodes.cache import NodeCaches
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.nodes.samples import GpuSamples
from infernet.controlplane.settings import Settings
from infernet.controlplane.training.market import TrainingMarket
from infernet.controlplane.verification.service import Verifications
from infernet.protocol.signing import NonceStore, RequestVerifier


@dataclass
class Shared:
    bus: Bus
    limiter: RateLimiter
    nonces: NonceStore | None  # None: in the database (built with it, in app.py)


def build_shared(
    settings: Settings,
    clock: Callable[[], float] = time.time,
    limiter: RateLimiter | None = None,
) -> Shared:
    """The bus, rate limiter and nonce store for `settings` (`limiter`: use this one)."""
    bus = build_bus(settings.redis_url, settings.replica_id)
    if settings.redis_url is None:
        return Shared(bus, limiter or InMemoryRateLimiter(clock), None)
    from infernet.controlplane.bus.redis import RedisBus
    from infernet.controlplane.limits.redis import RedisNonceStore, RedisRateLimiter

    assert isinstance(bus, RedisBus)
    limiter = limiter or RedisRateLimiter(bus.client, clock)
    return Shared(bus, limiter, RedisNonceStore(bus.client))


@dataclass
class Services:
    settings: Settings
    db: AsyncEngine
    registry: NodeRegistry
    jobs: JobManager
    verifier: RequestVerifier
    bus: Bus
    # Node and client-key facts read on every request, kept current on every replica.
    caches: NodeCaches
    training: TrainingMarket  # open-market federated LoRA (controlplane/training/)
    payments: Payments | None = None  # None: PAYMENTS_ENABLED=false
    events: EventHub = field(default_factory=EventHub)  # live pages (dashboard SSE)
    verifications: Verifications | None = None  # None: no verifier configured
    samples: GpuSamples = field(default_factory=GpuSamples)  # GPU utilization over time
