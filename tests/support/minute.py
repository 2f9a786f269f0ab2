"""Rate limits count requests per calendar minute (controlplane/limits/rates.py): a test
that expects its N+1st request refused must not straddle a minute boundary, or the new
minute would allow it. Control planes under test get a clock of their own instead of
waiting for the wall clock."""

from __future__ import annotations

import time
from collections.abc import Callable


def fresh_minute_clock() -> Callable[[], float]:
    """A clock that runs at real speed but starts 1 s into a minute, so a test has 59 s
    before its requests could fall into the next minute."""
    start, origin = time.monotonic(), (time.time() // 60 + 1) * 60 + 1.0
    return lambda: origin + (time.monotonic() - start)
