"""Modular MAX: OpenAI-compatible servers, one model each (`max serve --model <hf-id>`).

Like vLLM (see `launcher.OpenAIEngineBackend`). MAX serves its model under the id it was
started with (there is no alias flag), answers `GET /health` and `GET /v1/health` with
200 and an empty body, and reports its version on `GET /version` (shown in `health()`).
It takes its port from the environment, so managed launch runs

    MAX_SERVE_HOST=127.0.0.1 MAX_SERVE_PORT=<free> max serve --model <hf-id>
        [--devices gpu:0,...,N-1]

Follows modular/modular `max/python/max/serve/api_server.py` (`/health`, `/version`),
`serve/router/openai_routes.py` (`/v1/models`, `/v1/health`) and `serve/config.py`
(`MAX_SERVE_HOST`, `MAX_SERVE_PORT`); CLI per docs.modular.com/max/cli/serve.
"""

from __future__ import annotations

import httpx

from infernet.backends.engine_process import LaunchPlan
from infernet.backends.errors import BackendError
from infernet.backends.launcher import LaunchSettings, OpenAIEngineBackend

DEFAULT_HOST = "http://localhost:8080"


class MaxBackend(OpenAIEngineBackend):
    engine = "max"
    title = "MAX"
    config_hint = "max_host/max_model"

    def launch_plan(self, model: str, port: int, launch: LaunchSettings) -> LaunchPlan:
        devices: tuple[str, ...] = ()
        if launch.tensor_parallel_size > 1:
            gpus = ",".join(str(i) for i in range(launch.tensor_parallel_size))
            devices = ("--devices", f"gpu:{gpus}")
        argv = (*(launch.command or ("max", "serve")), "--model", model, *devices)
        env = {"MAX_SERVE_HOST": launch.bind_host, "MAX_SERVE_PORT": str(port)}
        return LaunchPlan(
            (*argv, *launch.extra_args),
            f"http://{launch.bind_host}:{port}",
            self.health_path,
            env=env,
        )

    async def engine_info(self, client: httpx.AsyncClient) -> dict[str, str]:
        response = await client.get("/version", timeout=5.0)
        if response.status_code != 200:
            raise BackendError(f"/version answered HTTP {response.status_code}")
        body = response.json()
        if not isinstance(body, dict) or "version" not in body:
            raise BackendError(f"/version answered without a version: {body!r:.200}")
        return {"version": str(body["version"])}
