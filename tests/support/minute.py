"""Rate limits count requests per calendar minute (controlplane/limits/rates.py): a test that
expects its N+1st request refused must not straddle a minute boundary, or the new minute
would allow it."""

from __future__ import annotations

import asyncio
import time


async def room_in_this_minute(need_s: float) -> None:
    """Return once at least `need_s` seconds are left before the clock's next minute."""
    left = 60.0 - time.time() % 60.0
    if left < need_s:
        await asyncio.sleep(left + 0.05)
