"""A fake SGLang server, written from sgl-project/sglang source:
`python/sglang/srt/entrypoints/openai/protocol.py` at 004c82e (ModelCard
`owned_by="sglang"`, flat ErrorResponse `{object: "error", message, type, param, code}`),
`entrypoints/openai/serving_base.py` at 012bcb5 (requests are not checked against the
served model name: SGLang answers with its one model whatever `model` says) and
`entrypoints/http_server.py` (`/health`: 200 with an empty body, 503 while starting;
`/get_model_info`: `model_path`, `tokenizer_path`, `is_generation`, ...). Over-long prompts
are refused with 400 as `tokenizer_manager._validate_one_request` words it (SGLang does
not clamp; prompt plus max_new_tokens must stay below the context length).

Run as `python -m tests.fakes.sglang --model-path <m> --served-model-name <name>
--host <h> --port <p> [--tp-size N] [--startup-delay S]`, the `sglang.launch_server` argv.
"""

from __future__ import annotations

import sys
from typing import Any

from fastapi import FastAPI

from tests.fakes.openai_engine import Dialect, EngineState, launch_parser, run_process
from tests.fakes.openai_engine import create_app as create_openai_app


def error_body(status: int, message: str, param: str) -> dict[str, Any]:
    kind = "NotFoundError" if status == 404 else "BadRequestError"
    return {"object": "error", "message": message, "type": kind, "param": param, "code": status}


def context_check(prompt: int, max_tokens: int, limit: int) -> str | None:
    if prompt >= limit:
        return (
            f"The input ({prompt} tokens) is longer than the model's context length "
            f"({limit} tokens)."
        )
    if prompt + max_tokens >= limit:
        return (
            f"Requested token count exceeds the model's maximum context length of {limit} "
            f"tokens. You requested a total of {prompt + max_tokens} tokens: {prompt} tokens "
            f"from the input messages and {max_tokens} tokens for the completion. Please "
            "reduce the number of tokens in the input messages or the completion to fit "
            "within the limit."
        )
    return None


DIALECT = Dialect(
    owned_by="sglang",
    unknown_model_status=None,
    unknown_model_message=lambda model: model,
    error_body=error_body,
    context_check=context_check,
)


def create_app(state: EngineState) -> FastAPI:
    app = create_openai_app(state, DIALECT)

    @app.get("/get_model_info")
    async def get_model_info() -> dict[str, Any]:
        return {
            "model_path": state.model_path,
            "tokenizer_path": state.model_path,
            "is_generation": True,
            "preferred_sampling_params": None,
            "weight_version": "default",
        }

    return app


def main(argv: list[str]) -> None:
    parser = launch_parser()
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--tp-size", type=int, default=1)
    args, _ = parser.parse_known_args(argv)
    served = args.served_model_name or args.model_path
    state = EngineState(served_model=served, model_path=args.model_path)
    run_process(create_app(state), args.host, args.port, args.startup_delay)


if __name__ == "__main__":
    main(sys.argv[1:])
