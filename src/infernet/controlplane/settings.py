"""Control-plane settings: one object, built once and passed to `create_app`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Settings(BaseModel):
    database_url: str = "sqlite+aiosqlite:///infernet.db"
    public_url: str = "http://127.0.0.1:8700"
    heartbeat_interval_s: float = Field(default=30.0, gt=0)
    # Three missed beats make a node offline (the Book's 90 s).
    missed_beats_offline: int = 3
    job_timeout_s: float = 300.0
    sse_keepalive_s: float = 15.0
    open_registration: bool = True
    max_body_bytes: int = 1_000_000
    max_tokens_limit: int = 32_768

    @property
    def offline_after_s(self) -> float:
        return self.heartbeat_interval_s * self.missed_beats_offline
