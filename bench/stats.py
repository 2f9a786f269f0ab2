"""Small measuring tools: percentiles, and a process's CPU time and memory read from /proc.

/proc keeps the benchmark free of extra dependencies; on a system without it, CPU and
memory read as None and the rows say "n/a" rather than guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from infernet.heap import rss_mib as rss_mb  # a process's RSS, MiB (its pid)

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100); NaN for an empty list."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[rank]


def median(values: list[float]) -> float:
    return percentile(values, 50)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by `pid` (its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def syscalls(pid: int) -> tuple[int, int]:
    """Read and write system calls made so far by `pid` (/proc/PID/io's syscr, syscw;
    sends and receives on sockets count among them); (0, 0) where /proc cannot say."""
    try:
        fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        return int(fields["syscr"]), int(fields["syscw"])
    except (OSError, KeyError, ValueError):
        return 0, 0


def children(pid: int) -> list[int]:
    """Direct and indirect child processes of `pid` (for servers that fork workers)."""
    found: list[int] = []
    queue = [pid]
    while queue:
        parent = queue.pop()
        path = Path(f"/proc/{parent}/task/{parent}/children")
        with contextlib.suppress(OSError):
            kids = [int(p) for p in path.read_text().split()]
            found += kids
            queue += kids
    return found


def tree_rss_mb(pid: int) -> float | None:
    """RSS of a process and all its children, in MiB."""
    own = rss_mb(pid)
    if own is None:
        return None
    return own + sum(rss_mb(c) or 0.0 for c in children(pid))


@dataclass
class RssSampler:
    """Samples a process's RSS every `interval` seconds while running; keeps the peak."""

    pid: int
    interval: float = 0.02
    peak_mb: float = 0.0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def _run(self) -> None:
        while True:
            self.peak_mb = max(self.peak_mb, rss_mb(self.pid) or 0.0)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self.peak_mb = rss_mb(self.pid) or 0.0
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> float:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.peak_mb = max(self.peak_mb, rss_mb(self.pid) or 0.0)
        return self.peak_mb


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"
