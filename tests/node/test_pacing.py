"""The node beats as often as its control plane asks (within sane bounds), so a control
plane run with `--heartbeat-interval 5` does not see its nodes flap offline."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from infernet.controlplane.settings import Settings
from infernet.localnet import LocalNode
from infernet.node.pacing import (
    DEFAULT_INTERVAL_S,
    MAX_INTERVAL_S,
    MIN_INTERVAL_S,
    heartbeat_interval,
)
from tests.support.harness import running
from tests.support.scripted import ScriptedBackend


@pytest.mark.parametrize(
    ("configured", "told", "interval"),
    [
        (None, None, DEFAULT_INTERVAL_S),  # nothing said yet
        (None, 5.0, 5.0),  # follow the control plane
        (None, 90.0, 90.0),  # slower too, when the operator set nothing
        (10.0, 5.0, 5.0),  # never slower than the control plane asks
        (10.0, 60.0, 10.0),  # the operator's interval is an upper bound
        (None, 0.0, MIN_INTERVAL_S),  # a broken reply cannot flood the control plane
        (None, -3.0, MIN_INTERVAL_S),
        (None, 86400.0, MAX_INTERVAL_S),  # nor silence the node
        (None, math.nan, DEFAULT_INTERVAL_S),
    ],
)
def test_the_interval_follows_the_control_plane_within_bounds(
    configured: float | None, told: float | None, interval: float
) -> None:
    assert heartbeat_interval(configured, told) == interval


async def test_a_node_beats_at_the_interval_its_control_plane_states(tmp_path: Path) -> None:
    async with running(tmp_path, Settings(heartbeat_interval_s=0.5)) as harness:
        node = LocalNode(
            tmp_path / "node", harness.url, ScriptedBackend(["m:1b"]), served_models=["m:1b"]
        )
        harness.nodes.append(node)  # stopped with the harness
        node.start()
        await harness.control_plane.wait_serving("m:1b", 1, timeout=20)
        beats: set[float] = set()
        deadline = time.monotonic() + 4.0
        while len(beats) < 4 and time.monotonic() < deadline:
            if node.daemon.last_heartbeat is not None:
                beats.add(node.daemon.last_heartbeat)
            await asyncio.sleep(0.05)
        assert node.daemon.interval_s == 0.5
        assert len(beats) >= 4  # a 30 s node would have sent one
