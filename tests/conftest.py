"""Fixtures shared by the whole suite."""

from __future__ import annotations

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
