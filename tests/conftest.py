"""Fixtures shared by the whole suite."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer, postgres_bin


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if postgres_bin() is None:
        pytest.skip(
            "PostgreSQL is not installed: apt-get install postgresql "
            "(scripts/test.sh installs it when run as root)"
        )
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def deep_recursion_limit() -> Iterator[None]:
    """The recursion limit as web3's py_ecc sets it on import (100,000). Deeply nested input
    must then be refused by a bound of our own: a C parser that trusts the limit would
    overflow the C stack (a segfault) long before a RecursionError."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    yield
    sys.setrecursionlimit(limit)
