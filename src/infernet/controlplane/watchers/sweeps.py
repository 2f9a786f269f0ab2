"""Background loops of the control plane, each a named task with start/stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from infernet.controlplane.services import Services
from infernet.controlplane.store import nodes as node_store
from infernet.controlplane.store import samples as sample_store
from infernet.controlplane.training.sweeper import TrainingSweeper
from infernet.controlplane.watchers.recovery import TIDY_S, tidy
from infernet.controlplane.watchers.webhooks import LivenessWatch
from infernet.heap import FreedMemory, FrozenSurvivors, glibc_trim

LIVENESS_CHECK_S = 2.0
TRIM_CHECK_S = 0.5  # a burst's end is noticed within half a second (heap.FreedMemory)
FREEZE_CHECK_S = 1.0  # survivors of a full collection are frozen within a second (heap.py)
log = logging.getLogger("infernet.background")


class PeriodicTask:
    def __init__(self, name: str, interval_s: float, work: Callable[[], Awaitable[None]]) -> None:
        self.name, self.interval_s, self._work = name, interval_s, work
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._work()
            except Exception:
                log.exception("background task failed", extra={"task": self.name})

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def store_gpu_samples(services: Services) -> None:
    """Write the minutes of GPU utilization that ended (nodes/samples.py)."""
    rows = services.samples.take_finished()
    try:
        await sample_store.add(services.db, rows)
    except Exception:
        services.samples.put_back(rows)  # the next try writes them
        raise


def background_tasks(services: Services) -> list[PeriodicTask]:
    async def flush_heartbeats() -> None:
        seen = services.registry.take_unflushed()
        moments = {node: datetime.fromtimestamp(ts, UTC) for node, ts in seen.items()}
        await node_store.flush_heartbeats(services.db, moments)

    liveness_s = min(LIVENESS_CHECK_S, services.settings.heartbeat_interval_s)
    training = TrainingSweeper(services.training)  # controlplane/training/sweeper.py
    tasks = [
        PeriodicTask("job-sweeper", 1.0, services.jobs.sweep),
        PeriodicTask("heartbeat-flusher", 5.0, flush_heartbeats),
        PeriodicTask("gpu-samples", 15.0, lambda: store_gpu_samples(services)),
        # Node liveness -> live dashboard pages and offline webhooks (webhooks.py).
        PeriodicTask("liveness-watch", liveness_s, LivenessWatch(services).check),
        # Holds a crash left open, stored streams past retention, expired nonces.
        PeriodicTask("recovery-tidy", TIDY_S, lambda: tidy(services)),
        PeriodicTask("training-claims", 1.0, training.lapse_and_finish),
        PeriodicTask("training-verifier", 1.0, training.verify_until_idle),
        PeriodicTask("gc-freeze", FREEZE_CHECK_S, FrozenSurvivors().check),
    ]
    if (trim := glibc_trim()) is not None:  # what a burst freed, back to the system
        freed = FreedMemory(lambda: not services.jobs.unfinished(), trim)
        tasks.append(PeriodicTask("memory-return", TRIM_CHECK_S, freed.check))
    return tasks
