"""vLLM: OpenAI-compatible servers, one model each (`vllm serve <hf-id>`).

A node reaches vLLM either as fixed servers from its config (`vllm_host` + `vllm_model`,
or `vllm_instances: [{host, model}]`, routed by the requested model) or, with managed
launch, as servers it starts itself per installed model:

    vllm serve <hf-id> --served-model-name <hf-id> --host 127.0.0.1 --port <free>
        --tensor-parallel-size <N>

Everything else (routing, streaming with `stream_options.include_usage`, health on
`GET /health`, which answers 200 with an empty body) is the shared
`launcher.OpenAIEngineBackend`.
Follows vllm-project/vllm `vllm/entrypoints/openai` (ModelCard/ErrorResponse in
`engine/protocol.py`, `models/serving.py`) and `entrypoints/serve/instrumentator/health.py`.
"""

from __future__ import annotations

from infernet.backends.engine_process import LaunchPlan
from infernet.backends.launcher import LaunchSettings, OpenAIEngineBackend

DEFAULT_HOST = "http://localhost:8000"


class VllmBackend(OpenAIEngineBackend):
    engine = "vllm"
    title = "vLLM"
    config_hint = "vllm_instances"

    def launch_plan(self, model: str, port: int, launch: LaunchSettings) -> LaunchPlan:
        pp = launch.pipeline_parallel_size
        pipeline = ("--pipeline-parallel-size", str(pp)) if pp > 1 else ()
        argv = (
            *(launch.command or ("vllm", "serve")),
            model,
            "--served-model-name",
            model,
            "--host",
            launch.bind_host,
            "--port",
            str(port),
            "--tensor-parallel-size",
            str(launch.tensor_parallel_size),
            *pipeline,
            *(("--distributed-executor-backend", "ray") if launch.ray_address else ()),
            *launch.extra_args,
        )
        env = {"RAY_ADDRESS": launch.ray_address} if launch.ray_address else {}
        return LaunchPlan(argv, f"http://{launch.bind_host}:{port}", self.health_path, env)
