"""What a node (or a model) did over a window of time, as chart series: jobs completed,
tokens per second, time to first token, the cache-routed share, earnings and GPU
utilization, one value per bucket (store/timeseries.py does the counting).

Windows: the last hour per minute, the last day per 15 minutes, the last week per 2
hours; the last bucket is the one under way. Tokens per second is a bucket's completion
tokens over its generation seconds (a ratio of sums, so long answers weigh more); time
to first token is the bucket's mean (portable SQL has no percentile). A bucket with no
job has no speed, no TTFT and no share (`None`, a gap in the line), but zero jobs and
zero earnings; a window with no job at all has no series: the chart says so instead of
drawing zeros.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store import timeseries
from infernet.controlplane.store.timeseries import JobBucket

T = TypeVar("T")
NO_DATA = "no data in this window"


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    step_s: int
    buckets: int
    label: str

    def start(self, now: float) -> float:
        """When bucket 0 starts: whole steps back from the bucket under way."""
        return (int(now) // self.step_s - (self.buckets - 1)) * self.step_s


WINDOWS: dict[str, Window] = {
    w.name: w
    for w in (
        Window("hour", 60, 60, "last hour, per minute"),
        Window("day", 900, 96, "last 24 hours, per 15 minutes"),
        Window("week", 7200, 84, "last 7 days, per 2 hours"),
    )
}
DEFAULT_WINDOW = "day"


def window_named(name: str | None) -> Window:
    return WINDOWS.get(name or "", WINDOWS[DEFAULT_WINDOW])


@dataclass(frozen=True, slots=True)
class Series:
    key: str  # names the chart in the page (an element id)
    title: str
    unit: str  # jobs | tokens/s | ms | % | USDC
    start: float  # unix seconds of bucket 0
    step_s: int
    values: tuple[float | None, ...]  # one per bucket; None: nothing measured then
    empty: str = NO_DATA  # what the chart says when no bucket has a value

    @property
    def has_data(self) -> bool:
        return any(v is not None for v in self.values)

    @property
    def latest(self) -> float | None:
        """The most recent bucket's value that was measured."""
        return next((v for v in reversed(self.values) if v is not None), None)


def _spread(
    found: Mapping[int, T], buckets: int, value: Callable[[T], float | None], zero: float | None
) -> tuple[float | None, ...]:
    """One value per bucket: `value` of the bucket's row, `zero` where there is none (a
    window with no row at all: nothing)."""
    if not found:
        return (None,) * buckets
    return tuple(value(found[i]) if i in found else zero for i in range(buckets))


def _rate(b: JobBucket) -> float | None:
    return b.generated_tokens / b.generation_s if b.generation_s > 0 else None


def _ttft_ms(b: JobBucket) -> float | None:
    return b.ttft_s / b.timed * 1000 if b.timed else None


def job_series(found: Mapping[int, JobBucket], window: Window, start: float) -> list[Series]:
    """Jobs completed, tokens/s, TTFT and cache-routed share from the job buckets."""
    n = window.buckets

    def series(key: str, title: str, unit: str, values: tuple[float | None, ...]) -> Series:
        return Series(key, title, unit, start, window.step_s, values)

    return [
        series("jobs", "Jobs completed", "jobs", _spread(found, n, lambda b: b.jobs, 0.0)),
        series(
            "speed", "Tokens per second (generating)", "tokens/s", _spread(found, n, _rate, None)
        ),
        series("ttft", "Time to first token (mean, ms)", "ms", _spread(found, n, _ttft_ms, None)),
        series(
            "cache",
            "Cache-routed share (%)",
            "%",
            _spread(found, n, lambda b: 100 * b.cache_routed / b.jobs, None),
        ),
    ]


async def node_history(
    db: AsyncEngine,
    node_id: str,
    window: Window,
    *,
    earnings_account: str | None,
    now: float | None = None,
) -> list[Series]:
    """The node's series over `window`; earnings only when payments are on (the owner's
    earnings account in the ledger: money/ledger.py)."""
    start = window.start(time.time() if now is None else now)
    since, step = datetime.fromtimestamp(start, UTC), window.step_s
    found = await timeseries.job_buckets(db, since=since, step_s=step, node_id=node_id)
    result = job_series(found, window, start)
    if earnings_account is not None:
        earned = await timeseries.earning_buckets(
            db, node_id, earnings_account, since=since, step_s=step
        )
        values = _spread(earned, window.buckets, lambda micros: micros / 1_000_000, 0.0)
        result.append(Series("earnings", "Earnings (USDC)", "USDC", start, step, values))
    gpu = await timeseries.gpu_buckets(db, node_id, since=since, step_s=step)
    values = _spread(gpu, window.buckets, lambda util: util, None)
    empty = "GPU utilization not reported by this node in this window"
    result.append(Series("gpu", "GPU utilization (%)", "%", start, step, values, empty))
    return result


async def model_history(
    db: AsyncEngine, key: str, window: Window, now: float | None = None
) -> list[Series]:
    """A model's jobs, speed and TTFT over `window`, across every node serving it."""
    start = window.start(time.time() if now is None else now)
    since = datetime.fromtimestamp(start, UTC)
    found = await timeseries.job_buckets(db, since=since, step_s=window.step_s, routing_key=key)
    return [s for s in job_series(found, window, start) if s.key != "cache"]
