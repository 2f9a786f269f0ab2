"""MAX adapter: its version on /version, a launch driven by MAX_SERVE_* variables, and
refusing unknown models before MAX answers them with a bare "Value error."."""

from __future__ import annotations

import pytest

from infernet.backends.base import ChatMessage, GenerationRequest
from infernet.backends.errors import ModelNotLoaded
from infernet.backends.launcher import LaunchSettings
from infernet.backends.max import MaxBackend
from tests.backends.conftest import SERVED_HF, engine_state
from tests.fakes import max as fake_max
from tests.fakes.server import serve

HELLO = (ChatMessage("user", "hello"),)


async def test_health_reports_the_max_version() -> None:
    with serve(fake_max.create_app(engine_state(SERVED_HF))) as url:
        backend = MaxBackend.at(url, SERVED_HF)
        health = await backend.health()
        await backend.close()

    assert health.ok
    assert health.extra["version"] == fake_max.VERSION


async def test_an_unknown_model_is_model_not_loaded_not_a_value_error() -> None:
    state = engine_state(SERVED_HF)
    with serve(fake_max.create_app(state)) as url:
        backend = MaxBackend.at(url)  # learns the served model from /v1/models
        with pytest.raises(ModelNotLoaded, match=SERVED_HF):
            async for _ in backend.generate(GenerationRequest("llama3.1:8b", HELLO)):
                pass
        await backend.close()

    assert state.chat_requests == []


def test_the_launch_command_is_max_serve_with_its_port_in_the_environment() -> None:
    launch = LaunchSettings(tensor_parallel_size=2)
    plan = MaxBackend((), launch=launch).launch_plan("google/gemma-3-12b-it", 8090, launch)

    assert plan.argv == ("max", "serve", "--model", "google/gemma-3-12b-it", "--devices", "gpu:0,1")
    assert plan.env == {"MAX_SERVE_HOST": "127.0.0.1", "MAX_SERVE_PORT": "8090"}
    assert plan.base_url == "http://127.0.0.1:8090"


def test_a_single_gpu_launch_leaves_device_choice_to_max() -> None:
    launch = LaunchSettings()
    plan = MaxBackend((), launch=launch).launch_plan("google/gemma-3-12b-it", 8090, launch)
    assert "--devices" not in plan.argv
