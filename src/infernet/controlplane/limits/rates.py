"""Request limits per API key (Book §5.1: 60 requests a minute, 1,000 an hour).

Each key is counted in two fixed windows aligned to the clock (the current minute and the
current hour). A request is allowed only if both windows have room, and only allowed
requests are counted, so a client hammering a full window does not push its own reset
further away. The answer reports the window closest to running out, which is what the
`X-RateLimit-*` headers carry.

`RateLimiter` is the seam: `InMemoryRateLimiter` serves one control-plane process; a
Redis implementation (shared across replicas) plugs in behind the same async method.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

MINUTE = 60
HOUR = 3600


@dataclass(frozen=True)
class Limits:
    per_minute: int
    per_hour: int

    def windows(self) -> tuple[tuple[int, int], ...]:
        """(window length in seconds, requests allowed in it), shortest first."""
        return ((MINUTE, self.per_minute), (HOUR, self.per_hour))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int  # of the window reported (the one closest to running out)
    remaining: int
    reset_at: int  # unix seconds when that window starts afresh
    retry_after: int  # seconds to wait before trying again; 0 when allowed
    window_s: int = MINUTE  # length of the window reported

    def describe(self) -> str:
        per = "minute" if self.window_s == MINUTE else "hour"
        return f"{self.limit} requests per {per}"

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class RateLimiter(Protocol):
    async def hit(self, key: str, limits: Limits) -> Decision:
        """Count one request for `key` if its limits allow it, and say how it stands."""
        ...


@dataclass
class _Window:
    start: int
    count: int = 0


@dataclass
class InMemoryRateLimiter:
    """Fixed windows in this process's memory: one small record per key and window
    length; windows that have passed are swept now and then, so memory follows the keys
    in use this hour."""

    clock: Callable[[], float] = time.time
    prune_every: int = 10_000  # hits between sweeps of windows that have passed
    _windows: dict[tuple[str, int], _Window] = field(default_factory=dict)
    _hits: int = 0

    async def hit(self, key: str, limits: Limits) -> Decision:
        now = self.clock()
        self._hits += 1
        if self._hits % self.prune_every == 0:
            self._prune(now)
        current = [
            (self._current(key, length, now), length, allowed)
            for length, allowed in limits.windows()
        ]
        full = [(w, length, allowed) for w, length, allowed in current if w.count >= allowed]
        if full:
            # The window that frees up last decides how long the client must wait.
            window, length, allowed = max(full, key=lambda f: f[0].start + f[1])
            reset_at = window.start + length
            wait = max(1, math.ceil(reset_at - now))
            return Decision(False, allowed, 0, reset_at, wait, length)
        for window, _, _ in current:
            window.count += 1
        window, length, allowed = min(current, key=lambda c: (c[2] - c[0].count, c[1]))
        return Decision(True, allowed, allowed - window.count, window.start + length, 0, length)

    def _current(self, key: str, length: int, now: float) -> _Window:
        start = int(now // length) * length
        window = self._windows.get((key, length))
        if window is None or window.start != start:
            window = self._windows[(key, length)] = _Window(start)
        return window

    def _prune(self, now: float) -> None:
        for (key, length), window in list(self._windows.items()):
            if window.start + length <= now:
                del self._windows[(key, length)]
