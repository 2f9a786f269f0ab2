"""How often the node talks to the control plane: the heartbeat interval, and the backoff
between job-channel reconnects.

Heartbeat interval: the control plane decides it (`cp serve --heartbeat-interval`) and
says so in its registration and heartbeat replies (`heartbeat_interval_s`), since it
declares a node offline after three missed beats; a node that kept its own 30 s against
a 5 s control plane would flap offline. So the node follows what it is told, bounded to
`[MIN_INTERVAL_S, MAX_INTERVAL_S]` so that a broken reply (0, negative, NaN, a day) can
neither flood the control plane nor silence the node. The config's
`heartbeat_interval_s`, when set, is an upper bound the operator chooses: the node then
beats at least that often, and never less often than the control plane asks. Until the
control plane has said anything, the node beats every `DEFAULT_INTERVAL_S`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

DEFAULT_INTERVAL_S = 30.0
MIN_INTERVAL_S = 0.2
MAX_INTERVAL_S = 600.0


def bounded(told: float | None) -> float | None:
    """A control plane's interval, clamped to the sane range; None when it gave none."""
    if told is None or math.isnan(told):
        return None
    return min(max(told, MIN_INTERVAL_S), MAX_INTERVAL_S)


def heartbeat_interval(configured: float | None, told: float | None) -> float:
    """Seconds between heartbeats: what the control plane said (bounded), or sooner if the
    operator configured a shorter interval; `DEFAULT_INTERVAL_S` before anything is said."""
    cp = bounded(told)
    if cp is None:
        return configured if configured is not None else DEFAULT_INTERVAL_S
    return min(configured, cp) if configured is not None else cp


_JITTER = random.Random()  # its own stream: the process-wide `random` state stays its users'


def backoff_delays(base: float = 0.5, cap: float = 30.0) -> Iterator[float]:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2^n)]."""
    attempt = 0
    while True:
        yield _JITTER.uniform(0, min(cap, base * 2**attempt))
        attempt += 1
