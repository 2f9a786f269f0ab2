"""Offences: a node caught claiming more than the control plane can check (a usage above
its bound, a stream past `max_tokens`, a malformed message; jobs/claims.py).

Each one is counted in the node's row with its reason (its owner sees both: `GET
/api/v1/nodes`, the dashboard), and on its live state, where the router adds
`OFFENCE_PENALTY_S` per offence to the node's predicted wait and stops routing to it at
all after `MAX_OFFENCES` (jobs/router.py). Every replica learns the new count through
the identity cache (nodes/cache.py), which the next heartbeat reads again.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.jobs.cluster import Caches
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.store import nodes as node_store

log = logging.getLogger("infernet.offences")


class Offences:
    def __init__(self, db: AsyncEngine, registry: NodeRegistry, caches: Caches) -> None:
        self._db, self._registry, self._caches = db, registry, caches

    async def record(self, node_id: str, reason: str) -> None:
        count = await node_store.record_offence(self._db, node_id, reason)
        if (node := self._registry.get(node_id)) is not None:
            node.offences = max(node.offences + 1, count)
        log.warning(
            f"node offence: {reason}",
            extra={"node_id": node_id, "offences": count},
        )
        await self._caches.node_changed(node_id, "trust")
