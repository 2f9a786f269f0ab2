"""SGLang: OpenAI-compatible servers, one model each (`python -m sglang.launch_server`).

Like vLLM (see `launcher.OpenAIEngineBackend`), plus SGLang's native status endpoint:
`GET /get_model_info` (`model_path`, `is_generation`, ...) is reported in `health()`.
SGLang answers with its one model whatever `model` a request names, so the adapter
checks the name itself and raises ModelNotLoaded rather than let a request for one model
be answered by another. Managed launch runs

    python3 -m sglang.launch_server --model-path <hf-id> --served-model-name <hf-id>
        --host 127.0.0.1 --port <free> --tp-size <N>

Follows sgl-project/sglang `python/sglang/srt/entrypoints/http_server.py` (`/health`,
`/get_model_info`) and `entrypoints/openai/protocol.py` (ModelCard, ErrorResponse).
"""

from __future__ import annotations

import httpx

from infernet.backends.engine_process import LaunchPlan
from infernet.backends.errors import BackendError
from infernet.backends.launcher import LaunchSettings, OpenAIEngineBackend

DEFAULT_HOST = "http://localhost:30000"


class SGLangBackend(OpenAIEngineBackend):
    engine = "sglang"
    title = "SGLang"
    config_hint = "sglang_host/sglang_model"

    def launch_plan(self, model: str, port: int, launch: LaunchSettings) -> LaunchPlan:
        argv = (
            *(launch.command or ("python3", "-m", "sglang.launch_server")),
            "--model-path",
            model,
            "--served-model-name",
            model,
            "--host",
            launch.bind_host,
            "--port",
            str(port),
            "--tp-size",
            str(launch.tensor_parallel_size),
            *launch.extra_args,
        )
        return LaunchPlan(argv, f"http://{launch.bind_host}:{port}", self.health_path)

    async def engine_info(self, client: httpx.AsyncClient) -> dict[str, str]:
        response = await client.get("/get_model_info", timeout=5.0)
        if response.status_code != 200:
            raise BackendError(f"/get_model_info answered HTTP {response.status_code}")
        info = response.json()
        if not isinstance(info, dict) or "model_path" not in info:
            raise BackendError(f"/get_model_info answered without model_path: {info!r:.200}")
        return {"model_path": str(info["model_path"])}
