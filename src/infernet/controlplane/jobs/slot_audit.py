"""Slots still held by jobs that are over, freed.

With several replicas a job holds one of its node's slots in the shared slot book
(bus/redis.py) from its reservation until its owner releases it, just after the job's
row is finished. A replica that dies between the two (killed, its machine lost) leaves
the slot taken, since taking over adopts unfinished jobs only (takeover.py); so does a
release whose retries a stopping replica gave up (cluster.py). Left alone, such a slot
stays taken for good: a node with one slot would never get another job.

So every `AUDIT_S` the replica holding a node's job channel, through which every job of
that node passes, looks at the node's slots. A job holding one that is neither run by
this replica nor forwarded through it is a suspect (another replica's job on its way
here is one for milliseconds). A suspect still holding its slot at the next audit is
released when its row is finished, or was never stored: a job still running anywhere
has an unfinished row, so a slow assignment or a long answer is never cut short.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from infernet.controlplane.jobs.cluster import Cluster
from infernet.controlplane.jobs.owner import JobOwner
from infernet.controlplane.nodes.registry import NodeRegistry

log = logging.getLogger("infernet.cluster")
AUDIT_S = 60.0
Slot = tuple[str, str]  # (node id, job id)
Unfinished = Callable[[list[str]], Awaitable[set[str]]]  # store/jobs.unfinished_among


class SlotAudit:
    def __init__(
        self, owner: JobOwner, cluster: Cluster, registry: NodeRegistry, unfinished: Unfinished
    ) -> None:
        self._owner, self._cluster, self._registry = owner, cluster, registry
        self._unfinished = unfinished
        self._suspects: set[Slot] = set()
        self._next = time.monotonic() + AUDIT_S

    async def due(self) -> None:
        """Audit when `AUDIT_S` has passed since the last audit."""
        if time.monotonic() >= self._next:
            self._next = time.monotonic() + AUDIT_S
            await self.audit()

    async def audit(self) -> list[Slot]:
        """Free the slots of suspects seen at the last audit too whose jobs are over;
        the slots freed."""
        suspects = {
            (node.node_id, job_id)
            for node in self._registry.all()
            if node.channel_here
            for job_id in node.active_jobs
            if self._owner.live(job_id) is None and not self._cluster.passes_through(job_id)
        }
        again = suspects & self._suspects
        running = (
            await self._unfinished(sorted({job_id for _, job_id in again})) if again else set()
        )
        freed = sorted(slot for slot in again if slot[1] not in running)
        for node_id, job_id in freed:
            log.warning(
                "slot held by a job that is over: freed",
                extra={"node_id": node_id, "job_id": job_id},
            )
            await self._cluster.release(node_id, job_id)
        self._suspects = suspects - set(freed)
        return freed
