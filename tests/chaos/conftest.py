"""The engines the chaos tests run on: a throwaway Redis (Debian's `redis-server`) and
PostgreSQL (tests/conftest.py's `postgres_server`); skipped with the reason when either
is not installed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis import RedisServer, redis_bin


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    if redis_bin() is None:
        pytest.skip("redis-server is not installed: apt-get install redis-server")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()
