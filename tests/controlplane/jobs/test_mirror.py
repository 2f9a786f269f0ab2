"""Job streams copied into the shared token log in the background: a push never waits
for the log; what several streams gained while a write was on its way goes in the next
one; a stream another replica wrote first stops being copied; a failed write is tried
again."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from infernet.controlplane.bus.base import StreamEntry
from infernet.controlplane.bus.memory import MemoryTokenLog
from infernet.controlplane.jobs import mirror as mirror_module
from infernet.controlplane.jobs.mirror import Mirror, MirrorWriter
from infernet.controlplane.jobs.streams import JobStream


class GatedLog(MemoryTokenLog):
    """A token log whose writes wait for `gate`; it records each write's runs (job id,
    entry numbers) and can fail the next `failures` writes as a lost connection would."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.writes: list[list[tuple[str, list[int]]]] = []
        self.failures = 0

    async def append(self, runs: list[tuple[str, list[StreamEntry]]]) -> list[Exception | None]:
        self.writes.append([(job_id, [e.seq for e in entries]) for job_id, entries in runs])
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise RedisConnectionError("connection lost")
        return await super().append(runs)


async def settled(writer: MirrorWriter) -> None:
    for _ in range(200):
        await asyncio.sleep(0)
    await writer.close()


def mirrored(writer: MirrorWriter, job_id: str) -> JobStream:
    return JobStream(Mirror(writer, job_id), job_id=job_id)


async def test_what_streams_gain_during_a_write_goes_together_in_the_next() -> None:
    log = GatedLog()
    writer = MirrorWriter(log)
    one, two = mirrored(writer, "job-1"), mirrored(writer, "job-2")
    log.gate.clear()
    await one.push("Hel")  # returns at once: the write waits at the gate
    await asyncio.sleep(0)
    await one.push("lo", "!")
    await one.finish()
    await two.push("Hi")
    log.gate.set()
    await settled(writer)

    assert log.writes == [[("job-1", [1])], [("job-1", [2, 3, 4]), ("job-2", [1])]]
    texts = [e.text for e in await log.read("job-1", 0, 0)]
    assert texts == ["Hel", "lo", "!", ""]


async def test_a_stream_another_replica_wrote_first_is_no_longer_copied() -> None:
    log = GatedLog()
    await log.append([("job-1", [StreamEntry(1, "piece", "theirs")])])  # a takeover's
    writer = MirrorWriter(log)
    stream = mirrored(writer, "job-1")
    await stream.push("ours")
    await settled(writer)
    await stream.push("more")
    await settled(writer)

    assert [e.text for e in await log.read("job-1", 0, 0)] == ["theirs"]
    assert len(log.writes) == 2  # the theirs, then our one refused write; no more


async def test_a_failed_write_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirror_module, "RETRY_S", 0.01)
    log = GatedLog()
    log.failures = 1
    writer = MirrorWriter(log)
    stream = mirrored(writer, "job-1")
    await stream.push("Hel")
    await stream.finish()
    await asyncio.sleep(0.1)
    await settled(writer)

    assert [e.seq for e in await log.read("job-1", 0, 0)] == [1, 2]
    assert len(log.writes) >= 2
