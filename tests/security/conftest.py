"""Security tests that touch storage run on embedded SQLite and on a throwaway
PostgreSQL, like the control-plane tests (the same fixtures)."""

from __future__ import annotations

from tests.controlplane.conftest import database_url, harness

__all__ = ["database_url", "harness"]
