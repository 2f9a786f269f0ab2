"""What a server builds at start, kept out of the garbage collector's way while it runs.

A control plane is ~180,000 objects once started (modules, pydantic schemas, routes,
registries), nearly all alive until it stops, and each full collection walks every one of
them while the event loop waits. `gc.freeze()` moves what is alive now out of the
collector's generations, so later collections walk only what was made since. Measured on
the control plane under load (`python -m bench.relay_cpu --concurrency 32 --rounds 12`):
collection time 0.18 → 0.06 s per run of 1,920 jobs, CPU per job −1 to −4 %, relayed
TTFT p99 100–103 → 67–72 ms (no full collection pausing the loop).

The objects come back to the collector when the server stops (`gc.unfreeze()`), so a
process that starts and stops many servers (the test suite) keeps none frozen for good.

What a server holds grows after start too: each node's open job channel keeps ~200
objects alive (its coroutines through the middleware, its headers, its socket), so at
10,000 nodes a full collection walked ~1.9 million objects and paused the loop 1.4 s,
again at every quarter more (docs/benchmarks.md, run 15). `FrozenSurvivors` freezes
what survived each full collection, so the next walks only what was made since; every
`REVIEW_S` it unfreezes everything, so one full collection looks at all once more and
frees the cycles that died while frozen (a closed channel leaves ~20 objects in cycles).

`FreedMemory` hands back to the system what a burst of work freed. glibc keeps freed
pages in its heaps, so after 1,000 concurrent streams the control plane stayed near the
burst's peak (~185 MiB against ~115 MiB idle); `malloc_trim(0)` gives the free pages
back (~160 MiB; docs/benchmarks.md, run 14).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

TRIM_GROWTH_MIB = 8.0  # RSS grown since the last trim that makes another worth its time
REVIEW_S = 600.0  # how long a cycle that died while frozen may wait to be freed


@contextmanager
def startup_frozen() -> Iterator[None]:
    """Run the body (a started server's life) with everything alive now frozen."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def rss_mib(pid: int | None = None) -> float | None:
    """Resident memory of process `pid` (this one by default), MiB; None where /proc
    does not say."""
    try:
        pages = int(Path(f"/proc/{pid or 'self'}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def glibc_trim() -> Callable[[], object] | None:
    """`malloc_trim(0)` of the C library, None where it has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


class FreedMemory:
    """Trims the heap when the server is idle and its RSS has grown by `growth_mib` since
    the last trim (or since its lowest point after it): a busy process (the next burst
    would take the pages again) and an idle one with nothing freed never pay for it. The
    trim runs off the event loop."""

    def __init__(
        self,
        idle: Callable[[], bool],
        trim: Callable[[], object],
        rss: Callable[[], float | None] = rss_mib,
        growth_mib: float = TRIM_GROWTH_MIB,
    ) -> None:
        self._idle, self._trim, self._rss, self._growth = idle, trim, rss, growth_mib
        self._floor = rss()  # RSS after the last trim, or at start

    async def check(self) -> None:
        now = self._rss()
        if now is None or self._floor is None:
            return
        self._floor = min(self._floor, now)
        if now - self._floor < self._growth or not self._idle():
            return
        await asyncio.to_thread(self._trim)
        self._floor = self._rss()  # what it could not free is not asked again


def full_collections() -> int:
    """How many full (generation 2) collections this process has run."""
    return int(gc.get_stats()[2]["collections"])


class FrozenSurvivors:
    """Freezes what survived each full collection (see the module docstring); `check`
    runs every second or so, on the event loop (freezing splices three lists)."""

    def __init__(
        self, review_s: float = REVIEW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._review_s, self._clock = review_s, clock
        self._full, self._reviewed = full_collections(), clock()

    async def check(self) -> None:
        full = full_collections()
        if self._clock() - self._reviewed >= self._review_s:
            gc.unfreeze()  # the next full collection walks everything, once
            self._reviewed, self._full = self._clock(), full
        elif full != self._full:
            self._full = full
            gc.freeze()
