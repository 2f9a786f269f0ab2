"""What the OpenAPI document (`/docs`, `/openapi.json`) says about errors.

Routes declare their error statuses with `errors(...)` (the Book's envelope) or
`openai_errors(...)` (OpenAI's shape, for `/v1`). FastAPI's automatic 422 "Validation
Error" entry is replaced: this API answers invalid input with 400 `bad_request`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from infernet.controlplane.schemas.errors import ErrorEnvelope
from infernet.controlplane.schemas.openai import OpenAIError

MEANINGS = {
    400: "Bad request: malformed JSON, a missing, unknown or invalid field, an ambiguous model",
    401: "Missing, unknown or revoked API key",
    402: "Insufficient funds for the job's maximum cost (or a training budget): add funds or "
    "ask for less",
    403: "Not allowed (e.g. sign-up needs an invite code; an admin action)",
    404: "Not found (for models: the message lists those served now)",
    409: "Conflict: the resource is not in a state that allows this (now)",
    413: "Request body too large",
    429: "Rate limit reached: honour Retry-After",
    502: "The node or its engine failed while answering",
    503: "No capacity (no node can take the job now), or backend_unavailable (every node "
    "serving the model has its engine down): retryable, honour Retry-After; or not_offered "
    "(a feature this control plane does not run)",
    504: "The job did not complete in time",
}

ResponsesDoc = dict[int | str, dict[str, Any]]


def errors(*statuses: int) -> ResponsesDoc:
    return {s: {"model": ErrorEnvelope, "description": MEANINGS[s]} for s in statuses}


def openai_errors(*statuses: int) -> ResponsesDoc:
    return {s: {"model": OpenAIError, "description": MEANINGS[s]} for s in statuses}


def install_openapi(app: FastAPI) -> None:
    """Make `app` document 400 where FastAPI would say 422."""
    app.openapi = _openapi_without_422(app)  # type: ignore[method-assign]


def _openapi_without_422(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, routes=app.routes, description=app.description
            )
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if responses.pop("422", None) is not None and "400" not in responses:
                        responses["400"] = {
                            "description": MEANINGS[400],
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ErrorEnvelope"}
                                }
                            },
                        }
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas.setdefault("ErrorEnvelope", ErrorEnvelope.model_json_schema())
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    return build
