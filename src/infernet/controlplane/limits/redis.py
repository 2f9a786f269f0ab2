"""Request limits and the node-auth nonce cache, shared by all replicas through Redis.

`RedisRateLimiter` keeps the same fixed windows as `InMemoryRateLimiter` (one counter per
key, window length and window start, expiring with the window), checked and counted in
one Lua script so replicas never over-admit. `RedisNonceStore` records a nonce with
`SET NX EX`: a request replayed to any replica, or to one restarted since, is refused.

While Redis is unreachable each falls back to this replica's memory and logs it, so the
control plane keeps serving: limits and replay protection then hold per replica until
Redis is back.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from infernet.controlplane.limits.rates import Decision, InMemoryRateLimiter, Limits
from infernet.protocol.signing import MemoryNonceStore

log = logging.getLogger("infernet.limits")

HIT = """
local n = #KEYS
for i = 1, n do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[i]) then
    local counts = {0}
    for j = 1, n do counts[j + 1] = tonumber(redis.call('GET', KEYS[j]) or '0') end
    return counts
  end
end
local counts = {1}
for i = 1, n do
  counts[i + 1] = redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[n + i])
end
return counts
"""


class RedisRateLimiter:
    def __init__(self, redis: Redis, clock: Callable[[], float] = time.time) -> None:
        self._script: Any = redis.register_script(HIT)
        self._clock = clock
        self._fallback = InMemoryRateLimiter(clock=clock)

    async def hit(self, key: str, limits: Limits) -> Decision:
        now = self._clock()
        windows = [
            (int(now // length) * length, length, allowed) for length, allowed in limits.windows()
        ]
        keys = [f"infernet:rl:{key}:{length}:{start}" for start, length, _ in windows]
        args = [allowed for _, _, allowed in windows] + [length + 1 for _, length, _ in windows]
        try:
            ok, *counts = await self._script(keys=keys, args=args)
        except RedisError:
            log.warning("rate limits: Redis unreachable, counting in this replica only")
            return await self._fallback.hit(key, limits)
        current = [
            (start, length, allowed, int(count))
            for (start, length, allowed), count in zip(windows, counts, strict=True)
        ]
        if not ok:
            full = [w for w in current if w[3] >= w[2]]
            start, length, allowed, _ = max(full, key=lambda w: w[0] + w[1])
            wait = max(1, math.ceil(start + length - now))
            return Decision(False, allowed, 0, start + length, wait, length)
        start, length, allowed, count = min(current, key=lambda w: (w[2] - w[3], w[1]))
        return Decision(True, allowed, allowed - count, start + length, 0, length)


class RedisNonceStore:
    def __init__(self, redis: Redis) -> None:
        self._r = redis
        self._fallback = MemoryNonceStore()

    async def seen_or_add(self, nonce: str, ttl: float) -> bool:
        key, seconds = f"infernet:nonce:{nonce}", max(1, math.ceil(ttl))
        try:
            added = await self._r.set(key, b"1", nx=True, ex=seconds)
        except RedisError:
            log.warning("nonce cache: Redis unreachable, remembering in this replica only")
            return await self._fallback.seen_or_add(nonce, ttl)
        return not added
