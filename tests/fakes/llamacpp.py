"""A fake llama.cpp `llama-server` (or llama-swap in front of it), for backend detection.

Written from ggml-org/llama.cpp `tools/server/README.md` and `server.cpp`: `/health`
answers `{"status": "ok"}` (503 `{"error": {"code": 503, "message": "Loading model",
"type": "unavailable_error"}}` while loading), `/props` carries the per-slot context as
`default_generation_settings.n_ctx`, `/v1/models` entries carry `owned_by: "llamacpp"`.
llama-swap (mostlygeek/llama-swap `proxy/proxymanager.go`) answers `/health` with plain
`OK`, has no `/props` and lists models `owned_by: "llama-swap"`.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response


def create_app(
    model: str, *, swap: bool = False, loading: bool = False, n_ctx: int = 4096
) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> Response:
        if loading:
            error = {"code": 503, "message": "Loading model", "type": "unavailable_error"}
            return JSONResponse({"error": error}, status_code=503)
        return PlainTextResponse("OK") if swap else JSONResponse({"status": "ok"})

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        owner = "llama-swap" if swap else "llamacpp"
        card = {"id": model, "object": "model", "created": int(time.time()), "owned_by": owner}
        return {"object": "list", "data": [card]}

    if not swap:

        @app.get("/props")
        async def props() -> dict[str, Any]:
            return {
                "default_generation_settings": {"id": 0, "n_ctx": n_ctx, "is_processing": False},
                "model_alias": model,
                "model_path": f"/models/{model}",
                "total_slots": 1,
            }

    return app
