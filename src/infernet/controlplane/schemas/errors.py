"""The Book's error envelope, as documented in OpenAPI (api/docs.py)."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorEnvelope(BaseModel):
    """The Book's error envelope, which every native error answers with."""

    error: str
    error_message: str
