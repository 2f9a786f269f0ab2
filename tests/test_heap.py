"""heap.py: a running server's start-up objects are frozen out of the collector's walks,
and given back when it stops; so is what survives each full collection, until a review
lets one full collection walk (and free) everything again; what a burst of work freed
goes back to the system once the server is idle."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from infernet.heap import FreedMemory, FrozenSurvivors, glibc_trim, rss_mib, startup_frozen
from tests.support.harness import running


def test_what_is_alive_at_start_is_frozen_until_the_server_stops() -> None:
    before = [[n] for n in range(1_000)]  # alive at start: tracked containers
    with startup_frozen():
        frozen = gc.get_freeze_count()
        assert frozen >= len(before)
        made_later = [[n] for n in range(1_000)]
        assert gc.get_freeze_count() == frozen  # what comes later is collected as ever
    assert gc.get_freeze_count() == 0
    assert len(made_later) == len(before)


async def test_a_control_plane_runs_frozen_and_gives_its_objects_back(tmp_path: Path) -> None:
    async with running(tmp_path):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0


class Cycle:
    """Garbage only the collector frees: it refers to itself."""

    def __init__(self) -> None:
        self.me = self


async def test_survivors_of_a_full_collection_are_frozen_until_the_review() -> None:
    now = [0.0]
    survivors = FrozenSurvivors(review_s=600.0, clock=lambda: now[0])
    try:
        await survivors.check()
        assert gc.get_freeze_count() == 0, "no full collection yet"
        kept, cycle = [[n] for n in range(1_000)], Cycle()
        gc.collect()
        await survivors.check()
        assert gc.get_freeze_count() >= len(kept), "what survived is out of the next walks"
        died = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert died() is not None, "a cycle that died while frozen waits for the review"
        now[0] = 600.0
        await survivors.check()
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert died() is None, "the review's full collection walked everything and freed it"
    finally:
        gc.unfreeze()
    assert len(kept) == 1_000


class Process:
    """What `FreedMemory` watches, set by the test: RSS in MiB and whether jobs are live."""

    def __init__(self) -> None:
        self.rss, self.busy, self.trims = 100.0, False, 0

    def trim(self) -> None:
        self.trims += 1
        self.rss -= 5.0  # some of the growth was freed memory; the rest is live


async def test_the_heap_is_trimmed_once_the_server_is_idle_after_growing() -> None:
    process = Process()
    freed = FreedMemory(lambda: not process.busy, process.trim, lambda: process.rss, 8.0)
    await freed.check()
    assert process.trims == 0, "nothing grew"
    process.rss, process.busy = 130.0, True
    await freed.check()
    assert process.trims == 0, "busy: the next requests would take the pages again"
    process.busy = False
    await freed.check()
    assert process.trims == 1 and process.rss == 125.0
    await freed.check()
    process.rss += 7.0
    await freed.check()
    assert process.trims == 1, "what it could not free is not asked again, nor a small growth"
    process.rss += 1.0
    await freed.check()
    assert process.trims == 2
    process.rss = 90.0  # freed by the process itself: growth counts from here
    await freed.check()
    process.rss = 99.0
    await freed.check()
    assert process.trims == 3


def test_a_trim_gives_freed_pages_back_to_the_system() -> None:
    trim = glibc_trim()
    if trim is None:
        pytest.skip("this C library has no malloc_trim")
    # 64 MiB in blocks above pymalloc's size, so from malloc; one in 64 stays alive, so
    # the freed ones lie between live ones, where a free() alone never returns them.
    blocks = [bytes(2048) for _ in range(32_768)]
    kept = blocks[::64]
    del blocks
    before = rss_mib()
    trim()
    after = rss_mib()
    assert before is not None and after is not None
    assert before - after > 32, (before, after)
    assert len(kept) == 512
