"""The engines the chaos tests run on: a throwaway Redis (Debian's `redis-server`) and
PostgreSQL (tests/conftest.py's `postgres_server`); skipped with the reason when either
is not installed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis import RedisServer, throwaway_redis


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    yield from throwaway_redis()
