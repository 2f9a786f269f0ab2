"""A fake Modular MAX server, written from modular/modular source:
`max/python/max/serve/api_server.py` at 0cd095a (`/health`: 200 with an empty body,
`/version`: `{"version": ...}`, errors as `{"error": {code: "<status>", message, param:
"", type}}`), `max/serve/router/openai_routes.py` at 00700b1 (`/v1/models` with
`owned_by=""`, `/v1/health`; an unknown model raises ValueError, answered as 400
"Value error.") and `max/serve/config.py` at 06f8ee0 (`MAX_SERVE_HOST`, `MAX_SERVE_PORT`).
A prompt over `max_model_len` raises `PromptTooLongError` (`pipelines/context/
exceptions.py`: an InputError, answered 400 with its sentence); a `max_tokens` beyond the
room left is clamped (`pipelines/lib/tokenizer.max_tokens_to_generate`).

Run as `MAX_SERVE_PORT=<p> python -m tests.fakes.max serve --model <hf-id>
[--startup-delay S]`, the `max serve` argv (docs.modular.com/max/cli/serve).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from fastapi import FastAPI, Response

from tests.fakes.openai_engine import Dialect, EngineState, launch_parser, run_process
from tests.fakes.openai_engine import create_app as create_openai_app

VERSION = "26.1.0"
_TYPES = {400: "invalid_request_error", 404: "not_found_error"}


def error_body(status: int, message: str, param: str) -> dict[str, Any]:
    kind = _TYPES.get(status, "api_error")
    return {"error": {"code": str(status), "message": message, "param": "", "type": kind}}


def context_check(prompt: int, max_tokens: int, limit: int) -> str | None:
    if prompt < limit:
        return None
    return (
        f"Prompt is too long: {prompt} tokens exceeds the configured maximum context length "
        f"of {limit} tokens. Please shorten your prompt."
    )


DIALECT = Dialect(
    owned_by="",
    unknown_model_status=400,
    unknown_model_message=lambda model: "Value error.",
    error_body=error_body,
    context_check=context_check,
    clamps=True,
)


def create_app(state: EngineState) -> FastAPI:
    app = create_openai_app(state, DIALECT)

    @app.get("/v1/health")
    async def v1_health() -> Response:
        return Response(status_code=200 if state.healthy else 503)

    @app.get("/version")
    async def version() -> dict[str, str]:
        return {"version": VERSION}

    return app


def main(argv: list[str]) -> None:
    parser = launch_parser()
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--devices", default="cpu")
    args, _ = parser.parse_known_args(argv)
    state = EngineState(served_model=args.model, model_path=args.model)
    host = os.environ.get("MAX_SERVE_HOST", "0.0.0.0")
    port = int(os.environ.get("MAX_SERVE_PORT", "8000"))
    run_process(create_app(state), host, port, args.startup_delay)


if __name__ == "__main__":
    main(sys.argv[1:])
