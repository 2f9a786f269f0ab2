"""What every replica caches about a node, and how a change reaches all of them.

Two caches keep a node's heartbeat off the database: `IdentityCache` (nodeauth.py: key ->
node and its trust flags) and `OpenCommandCache` (store/commands.py: nodes known to have
no open command). Whoever changes those facts in the database calls `node_changed`
right after the commit: this replica forgets the node at once, and a `NodeChanged` on
the bus makes every other replica forget it as soon as the event arrives (with Redis,
within the bus's delivery time, normally a millisecond or two). A replica that may
have missed events (bus reconnect) forgets everything (`Cluster.resync`).

Client API keys follow the same pattern: `KeyCache` (store/accounts.py) answers a live key
from memory, and whoever revokes one calls `key_revoked` right after the commit, which
forgets it here and broadcasts `KeyRevoked` to the other replicas.
"""

from __future__ import annotations

from typing import Literal

from infernet.controlplane.bus.events import KeyRevoked, NodeChanged
from infernet.controlplane.services import Services

What = Literal["trust", "commands"]


def forget(services: Services, node_id: str | None, what: What | None = None) -> None:
    """Drop this replica's cached facts about ``node_id`` (None: every node)."""
    if what in (None, "trust"):
        services.identities.forget(node_id)
    if what in (None, "commands"):
        services.open_commands.forget(node_id)


async def node_changed(services: Services, node_id: str, what: What) -> None:
    """``node_id``'s trust or open commands changed in the database: tell every replica."""
    forget(services, node_id, what)
    bus = services.jobs.cluster.bus
    if bus.shared:
        await bus.broadcast(NodeChanged(node_id=node_id, what=what))


async def key_revoked(services: Services, key_id: str) -> None:
    """Client key ``key_id`` was revoked in the database: every replica refuses it now."""
    services.api_keys.forget(key_id)
    bus = services.jobs.cluster.bus
    if bus.shared:
        await bus.broadcast(KeyRevoked(key_id=key_id))


def install(services: Services) -> None:
    """Let bus events (and resyncs) reach this replica's caches."""

    def on_event(node_id: str | None) -> None:
        forget(services, node_id)

    services.jobs.cluster.forget_node = on_event
    services.jobs.cluster.forget_key = services.api_keys.forget
