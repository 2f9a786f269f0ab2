"""SGLang adapter: SGLang's own status endpoint, its launch command, and guarding the
model name that SGLang itself would ignore."""

from __future__ import annotations

import pytest

from infernet.backends.base import ChatMessage, GenerationRequest
from infernet.backends.errors import ModelNotLoaded
from infernet.backends.launcher import LaunchSettings
from infernet.backends.sglang import SGLangBackend
from tests.backends.conftest import SERVED_HF, engine_state
from tests.fakes import sglang as fake_sglang
from tests.fakes.server import serve

HELLO = (ChatMessage("user", "hello"),)


async def test_health_reports_the_model_path_from_get_model_info() -> None:
    with serve(fake_sglang.create_app(engine_state(SERVED_HF))) as url:
        backend = SGLangBackend.at(url, SERVED_HF)
        health = await backend.health()
        await backend.close()

    assert health.ok
    assert health.extra["model_path"] == SERVED_HF


async def test_a_request_for_another_model_never_reaches_sglang() -> None:
    # SGLang would answer it with the one model it holds; the adapter refuses instead.
    state = engine_state(SERVED_HF)
    with serve(fake_sglang.create_app(state)) as url:
        backend = SGLangBackend.at(url, SERVED_HF)
        with pytest.raises(ModelNotLoaded):
            async for _ in backend.generate(GenerationRequest("llama3.1:8b", HELLO)):
                pass
        await backend.close()

    assert state.chat_requests == []


def test_the_launch_command_is_sglang_launch_server() -> None:
    launch = LaunchSettings(tensor_parallel_size=4, extra_args=("--mem-fraction-static", "0.8"))
    plan = SGLangBackend((), launch=launch).launch_plan("Qwen/Qwen2.5-7B-Instruct", 30001, launch)

    assert plan.argv == (
        "python3", "-m", "sglang.launch_server",
        "--model-path", "Qwen/Qwen2.5-7B-Instruct",
        "--served-model-name", "Qwen/Qwen2.5-7B-Instruct",
        "--host", "127.0.0.1", "--port", "30001", "--tp-size", "4",
        "--mem-fraction-static", "0.8",
    )  # fmt: skip
    assert plan.base_url == "http://127.0.0.1:30001"
