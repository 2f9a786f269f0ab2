"""What every replica caches about nodes and client keys, and how a change reaches all.

Two caches keep a node's heartbeat off the database: `IdentityCache` (nodes/auth.py: key ->
node and its trust flags) and `OpenCommandCache` (store/commands.py: nodes known to have
no open command). Whoever changes those facts in the database calls
`NodeCaches.node_changed` right after the commit: this replica forgets the node at once,
and a `NodeChanged` on the bus makes every other replica forget it as soon as the event
arrives (with Redis, within the bus's delivery time, normally a millisecond or two). A
replica that may have missed events (bus reconnect) forgets everything (`Cluster.resync`).

Client API keys follow the same pattern: `KeyCache` (store/accounts.py) answers a live key
from memory, and whoever revokes one calls `key_revoked` right after the commit, which
forgets it here and broadcasts `KeyRevoked` to the other replicas.
"""

from __future__ import annotations

from typing import Literal

from infernet.controlplane.bus.base import Bus
from infernet.controlplane.bus.events import KeyRevoked, NodeChanged
from infernet.controlplane.nodes.auth import IdentityCache
from infernet.controlplane.store.accounts import KeyCache
from infernet.controlplane.store.commands import OpenCommandCache

What = Literal["trust", "commands"]


class NodeCaches:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self.identities = IdentityCache()
        self.open_commands = OpenCommandCache()
        self.api_keys = KeyCache()  # live client keys (api/deps.py)

    def forget(self, node_id: str | None, what: What | None = None) -> None:
        """Drop this replica's cached facts about ``node_id`` (None: every node)."""
        if what in (None, "trust"):
            self.identities.forget(node_id)
        if what in (None, "commands"):
            self.open_commands.forget(node_id)

    def forget_key(self, key_id: str | None) -> None:
        """Drop client key ``key_id`` (None: every key) from this replica's cache."""
        self.api_keys.forget(key_id)

    async def node_changed(self, node_id: str, what: What) -> None:
        """``node_id``'s trust or open commands changed in the database: tell every replica."""
        self.forget(node_id, what)
        if self._bus.shared:
            await self._bus.broadcast(NodeChanged(node_id=node_id, what=what))

    async def key_revoked(self, key_id: str) -> None:
        """Client key ``key_id`` was revoked in the database: every replica refuses it now."""
        self.forget_key(key_id)
        if self._bus.shared:
            await self._bus.broadcast(KeyRevoked(key_id=key_id))
