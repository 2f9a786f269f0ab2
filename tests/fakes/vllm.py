"""A fake vLLM OpenAI-compatible server, written from vllm-project/vllm source:
`vllm/entrypoints/openai/engine/protocol.py` at 040a2cc (ModelCard `owned_by="vllm"`,
ErrorResponse `{"error": {message, type, param, code}}`), `entrypoints/openai/models/
serving.py` at 00153c8 (unknown model: 404 "The model `x` does not exist.",
NotFoundError) and `entrypoints/serve/instrumentator/health.py` (`/health`: 200 with an
empty body, 503 when the engine is dead); `/version` as in `api_server.py`. Prompts over
`max_model_len` are refused with 400 as `serving_engine._validate_input` words it (v0.11):
the prompt alone, or `max_tokens` beyond the room it leaves (vLLM does not clamp).

Run as `python -m tests.fakes.vllm serve <model> --served-model-name <name> --host <h>
--port <p> [--tensor-parallel-size N] [--startup-delay S]`, the `vllm serve` argv.
"""

from __future__ import annotations

import sys
from typing import Any

from fastapi import FastAPI

from tests.fakes.openai_engine import Dialect, EngineState, launch_parser, run_process
from tests.fakes.openai_engine import create_app as create_openai_app

VERSION = "0.11.0"


def error_body(status: int, message: str, param: str) -> dict[str, Any]:
    kind = "NotFoundError" if status == 404 else "BadRequestError"
    return {"error": {"message": message, "type": kind, "param": param or None, "code": status}}


def context_check(prompt: int, max_tokens: int, limit: int) -> str | None:
    if prompt >= limit:
        return (
            f"This model's maximum context length is {limit} tokens. However, your request "
            f"has {prompt} input tokens. Please reduce the length of the input messages."
        )
    if prompt + max_tokens > limit:
        return (
            f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This "
            f"model's maximum context length is {limit} tokens and your request has {prompt} "
            f"input tokens ({max_tokens} > {limit} - {prompt})."
        )
    return None


DIALECT = Dialect(
    owned_by="vllm",
    unknown_model_status=404,
    unknown_model_message=lambda model: f"The model `{model}` does not exist.",
    error_body=error_body,
    context_check=context_check,
)


def create_app(state: EngineState) -> FastAPI:
    app = create_openai_app(state, DIALECT)

    @app.get("/version")
    async def version() -> dict[str, str]:
        return {"version": VERSION}

    return app


def main(argv: list[str]) -> None:
    parser = launch_parser()
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("model")
    parser.add_argument("--tensor-parallel-size", type=int, default=1)
    args, _ = parser.parse_known_args(argv)
    state = EngineState(served_model=args.served_model_name or args.model, model_path=args.model)
    run_process(create_app(state), args.host, args.port, args.startup_delay)


if __name__ == "__main__":
    main(sys.argv[1:])
