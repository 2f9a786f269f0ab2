"""heap.py: a running server's start-up objects are frozen out of the collector's walks,
and given back when it stops."""

from __future__ import annotations

import gc
from pathlib import Path

from infernet.heap import startup_frozen
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
