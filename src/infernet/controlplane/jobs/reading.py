"""Opening a job's stream for a reader, wherever the job is: the one place that decides.

- running here: its live `JobStream` (tokens as they arrive);
- finished here a moment ago: the stream rebuilt from the `StreamArchive`, numbered as
  it was streamed, so a `Last-Event-ID` resume gets exactly the rest; with one control
  plane, also from the pieces the journal stored (journal.py), e.g. across a restart;
- running on (or recently finished by) another replica: the shared `TokenLog`;
- finished long ago: its stored result as one piece and its end. A resume after an event
  id is refused then (410 `stream_expired`): which events the client saw can no longer be
  told, and guessing would repeat or drop text.
"""

from __future__ import annotations

from array import array
from collections.abc import AsyncIterator, Callable
from itertools import accumulate

from infernet.controlplane.bus.base import StreamEntry, follow
from infernet.controlplane.errors import StreamExpired
from infernet.controlplane.jobs.cluster import Cluster
from infernet.controlplane.jobs.live import LiveJob
from infernet.controlplane.jobs.streams import (
    STREAM_RETENTION_S,
    JobStream,
    StreamArchive,
    StreamError,
)
from infernet.controlplane.store.jobs import UNFINISHED, JobRecord

# The entries that came together, in order; []: nothing new for a while (a keep-alive).
Entries = AsyncIterator[list[StreamEntry]]


class StreamOpener:
    def __init__(
        self,
        live: Callable[[str], LiveJob | None],
        archive: StreamArchive,
        cluster: Cluster,
        keepalive_s: float,
    ) -> None:
        self._live, self._archive, self._cluster = live, archive, cluster
        self._keepalive_s = keepalive_s

    async def open(self, record: JobRecord, after: int = 0) -> Entries:
        """The job's entries after event `after`; StreamExpired when that cannot be told."""
        live = self._live(record.id)
        stream = live.stream if live else self._archive.replay(record.id, record.content)
        if stream is None and not self._cluster.shared and record.status not in UNFINISHED:
            stream = await self._journaled(record)
        if stream is not None:
            return stream.entries(after, self._keepalive_s)
        bus = self._cluster.bus
        if self._cluster.shared and (
            record.status in UNFINISHED or await bus.tokens.last_seq(record.id)
        ):
            return follow(bus.tokens, record.id, after, self._keepalive_s)
        if after >= 1:
            raise _expired(record.id)
        return _stored(record)

    async def _journaled(self, record: JobRecord) -> JobStream | None:
        """A finished job's stream as the journal stored it (journal.py; e.g. it ended
        before a restart), numbered as it was streamed; None when it is not kept."""
        keeper = self._cluster.keeper
        pieces = await keeper.load(record.id) if keeper is not None else []
        text = "".join(pieces)
        if not pieces or (record.status == "completed" and text != record.content):
            return None
        error = None
        if record.status == "failed":
            error = StreamError(record.error or "failed", record.error_message or "")
        ends = array("I", accumulate(len(p) for p in pieces))
        return JobStream.ended(text, ends, error)


async def _stored(record: JobRecord) -> Entries:
    """A job whose stream is no longer kept, read from the start: its whole text as
    event 1, then its end."""
    if record.status == "completed":
        text = [StreamEntry(1, "piece", record.content)] if record.content else []
        yield [*text, StreamEntry(2, "done")]
    elif record.status == "failed":
        yield [StreamEntry(1, "error", record.error_message or "", record.error or "failed")]
    else:  # not run by this control plane (it adopts every unfinished job at start)
        message = _NOT_HERE.format(job_id=record.id)
        yield [StreamEntry(1, "error", message, "stream_unavailable")]


_NOT_HERE = (
    "Job {job_id} is not running on this control plane, so its stream cannot be read "
    "here; GET /api/v1/jobs/{job_id} for its state."
)


def _expired(job_id: str) -> StreamExpired:
    return StreamExpired(
        f"Job {job_id} ended too long ago to resume its stream after an event id (its "
        f"pieces are kept {STREAM_RETENTION_S / 60:.0f} minutes); GET /api/v1/jobs/{job_id} "
        "for the whole result, or open the stream without Last-Event-ID to get it as one event."
    )
