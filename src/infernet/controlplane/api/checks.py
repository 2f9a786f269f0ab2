"""Checks a job request must pass before anything is created or charged, shared by the
native jobs API and the OpenAI-compatible one (pydantic has already checked the shapes)."""

from __future__ import annotations

from infernet.controlplane.errors import BadRequest
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.settings import Settings


def check_job_request(
    body: JobCreate, settings: Settings, tokens_field: str = "max_tokens"
) -> None:
    limit = settings.max_tokens_limit
    if body.max_tokens > limit:
        raise BadRequest(
            f"{tokens_field}: {body.max_tokens} is more than the limit of {limit}; "
            f"ask for at most {limit} tokens."
        )
    if body.encrypted is None and not any(m.content.strip() for m in body.messages):
        raise BadRequest("messages: every message is empty; send at least one with content.")
