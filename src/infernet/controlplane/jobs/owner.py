"""The one owner of every job's state, as the rest of the job lifecycle sees it.

`JobManager` (manager.py) is the only implementation: it decides when a job is queued,
sent, finished or failed, and writes each move to the store. Failover (failover.py),
takeover (takeover.py) and the cluster (cluster.py) act on jobs only through this
protocol, so none of them depends on the manager itself.
"""

from __future__ import annotations

from typing import Protocol

from infernet.controlplane.jobs.live import LiveJob
from infernet.protocol.wire import JobDone, JobFailed, JobToken, JobTokens

NodeMessage = JobToken | JobTokens | JobDone | JobFailed


class JobOwner(Protocol):
    def live(self, job_id: str) -> LiveJob | None:
        """The job, while this replica runs it."""
        ...

    def unfinished(self) -> list[LiveJob]: ...

    async def fail(self, job: LiveJob, code: str, text: str) -> None:
        """Finish `job` as failed (once), releasing its hold and ending its stream."""
        ...

    async def finish_relayed(self, job: LiveJob) -> None:
        """Complete `job` with what its nodes streamed (its segments): nothing is left
        to produce."""
        ...

    async def requeue(self, job: LiveJob) -> None:
        """`job` lost its node: store it as pending and put it at the head of the queue."""
        ...

    async def adopt(self, job: LiveJob) -> None:
        """Run `job`, taken over from a replica that died, from here."""
        ...

    def forget(self, job_id: str) -> None:
        """Drop `job_id` from memory (now run by another replica)."""
        ...

    async def node_lost(self, node_id: str, only: set[str] | None = None) -> None:
        """The node's channel closed: its jobs (of `only`, when given) go elsewhere."""
        ...

    async def undeliverable(self, node_id: str, job_id: str, attempt: int) -> None:
        """The replica that was to forward this attempt has no channel to the node."""
        ...

    async def apply(self, node_id: str, message: NodeMessage) -> None:
        """A node's message for a job this replica owns."""
        ...

    async def dispatch_waiting(self) -> None: ...

    async def resync_streams(self) -> None: ...
