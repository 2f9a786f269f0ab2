"""Throwaway PostgreSQL and Redis servers for the replica rows (6b, 6c): the test suite's
own (tests/support/postgres.py and redis.py: Debian's binaries, loopback, a free port,
data in a temporary directory deleted afterwards, no durability)."""

from __future__ import annotations

from tests.support.postgres import PostgresServer, postgres_bin
from tests.support.redis import RedisServer, redis_bin

__all__ = ["PostgresServer", "RedisServer", "missing"]


def missing() -> str:
    """Why the servers cannot run here, or "" when both binaries are installed."""
    lacking = []
    if postgres_bin() is None:
        lacking.append("PostgreSQL (apt-get install postgresql)")
    if redis_bin() is None:
        lacking.append("redis-server (apt-get install redis-server)")
    return " and ".join(lacking) + " not installed" if lacking else ""
