"""Everything a request handler needs, built once by `create_app` and kept on app.state."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.dashboard.hub import EventHub
from infernet.controlplane.jobs.manager import JobManager
from infernet.controlplane.money.payments import Payments
from infernet.controlplane.nodes.auth import IdentityCache
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.settings import Settings
from infernet.controlplane.store.accounts import KeyCache
from infernet.controlplane.store.commands import OpenCommandCache
from infernet.protocol.signing import RequestVerifier


@dataclass
class Services:
    settings: Settings
    db: AsyncEngine
    registry: NodeRegistry
    jobs: JobManager
    verifier: RequestVerifier
    payments: Payments | None = None  # None: PAYMENTS_ENABLED=false
    events: EventHub = field(default_factory=EventHub)  # live pages (dashboard SSE)
    # Node facts read on every heartbeat, kept current on every replica (nodecache.py).
    identities: IdentityCache = field(default_factory=IdentityCache)
    open_commands: OpenCommandCache = field(default_factory=OpenCommandCache)
    api_keys: KeyCache = field(default_factory=KeyCache)  # live client keys (api/deps.py)
