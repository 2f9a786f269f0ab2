"""How a node spaces its reconnects to the control plane: full-jitter exponential backoff,
so a control-plane restart does not bring every node back in the same second."""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff_delays(base: float = 0.5, cap: float = 30.0) -> Iterator[float]:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2^n)]."""
    attempt = 0
    while True:
        yield random.uniform(0, min(cap, base * 2**attempt))
        attempt += 1
