"""What the job lifecycle reports at its state transitions (counted by web/metrics.py)."""

from __future__ import annotations

from typing import Protocol

from infernet.controlplane.jobs.live import LiveJob


class JobEvents(Protocol):
    """What `JobManager` reports at its state transitions."""

    def submitted(self, job: LiveJob) -> None: ...
    def started(self, job: LiveJob) -> None: ...
    def completed(self, job: LiveJob) -> None: ...
    def failed(self, job: LiveJob, code: str) -> None: ...


class NoJobEvents:
    """The default: count nothing (a JobManager built without metrics)."""

    def submitted(self, job: LiveJob) -> None:
        return None

    def started(self, job: LiveJob) -> None:
        return None

    def completed(self, job: LiveJob) -> None:
        return None

    def failed(self, job: LiveJob, code: str) -> None:
        return None
