"""Dashboard sessions as their account sees them (api/sessions.py)."""

from __future__ import annotations

from pydantic import BaseModel


class SessionPublic(BaseModel):
    id: str
    key_id: str | None  # the API key it was opened with; None: email and password
    created_at: str
    last_seen_at: str
    expires_at: str  # moves forward while the session is used (store/sessions.py)


class SessionList(BaseModel):
    sessions: list[SessionPublic]
