"""vLLM adapter: fixed servers routed by model, and servers it launches per model.

The launch behaviour shown here (progress while loading, failures with the engine's own
log, stopping what it started) is shared by SGLang and MAX through `launcher`.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from infernet.backends.base import ChatMessage, Finish, GenerationRequest
from infernet.backends.errors import InstallFailed, ModelNotLoaded, UnsupportedOperation
from infernet.backends.launcher import EngineInstance, LaunchSettings
from infernet.backends.vllm import VllmBackend
from tests.backends.conftest import INSTALLABLE_HF, SERVED_HF, engine_state, fake_launch
from tests.fakes import vllm as fake_vllm
from tests.fakes.server import serve

pytestmark = pytest.mark.timeout(120)
HELLO = (ChatMessage("user", "hello"),)


async def run(backend: VllmBackend, model: str) -> list[object]:
    return [event async for event in backend.generate(GenerationRequest(model, HELLO))]


async def test_requests_go_to_the_instance_serving_the_model() -> None:
    small, large = engine_state("qwen2.5:7b"), engine_state("qwen2.5:14b")
    with serve(fake_vllm.create_app(small)) as a, serve(fake_vllm.create_app(large)) as b:
        backend = VllmBackend([EngineInstance(a, "qwen2.5:7b"), EngineInstance(b, "qwen2.5:14b")])
        await run(backend, "qwen2.5:14b")
        await run(backend, "qwen2.5:7b")
        names = [m.name for m in await backend.list_models()]
        await backend.close()

    assert [r["model"] for r in large.chat_requests] == ["qwen2.5:14b"]
    assert [r["model"] for r in small.chat_requests] == ["qwen2.5:7b"]
    assert names == ["qwen2.5:7b", "qwen2.5:14b"]


async def test_a_request_names_the_model_as_the_server_serves_it() -> None:
    state = engine_state(SERVED_HF)
    with serve(fake_vllm.create_app(state)) as url:
        backend = VllmBackend.at(url, SERVED_HF)
        events = await run(backend, "qwen/qwen2.5-0.5b-instruct")  # same routing key
        await backend.close()

    assert isinstance(events[-1], Finish)
    assert state.chat_requests[0]["model"] == SERVED_HF
    assert state.chat_requests[0]["stream_options"] == {"include_usage": True}


async def test_a_server_configured_without_a_model_is_asked_what_it_serves() -> None:
    state = engine_state(SERVED_HF)
    with serve(fake_vllm.create_app(state)) as url:
        backend = VllmBackend.at(url)
        events = await run(backend, SERVED_HF)
        with pytest.raises(ModelNotLoaded, match=SERVED_HF):
            await run(backend, "meta-llama/Llama-3.1-8B-Instruct")
        await backend.close()

    assert isinstance(events[-1], Finish)


async def test_a_fixed_server_cannot_install_and_says_what_to_do() -> None:
    backend = VllmBackend.at("http://127.0.0.1:8000", SERVED_HF)
    with pytest.raises(UnsupportedOperation, match="vllm_instances"):
        async for _ in backend.install(INSTALLABLE_HF):
            pass
    await backend.close()


async def test_a_server_the_node_did_not_start_is_not_stopped_by_remove() -> None:
    backend = VllmBackend.at("http://127.0.0.1:8000", SERVED_HF, launch=LaunchSettings())
    with pytest.raises(UnsupportedOperation, match="did not start"):
        await backend.remove(SERVED_HF)
    await backend.close()


def test_the_launch_command_is_vllm_serve_with_alias_port_and_tensor_parallelism() -> None:
    launch = LaunchSettings(tensor_parallel_size=2)
    plan = VllmBackend((), launch=launch).launch_plan("Qwen/Qwen2.5-14B-Instruct", 8123, launch)

    assert plan.argv == (
        "vllm", "serve", "Qwen/Qwen2.5-14B-Instruct",
        "--served-model-name", "Qwen/Qwen2.5-14B-Instruct",
        "--host", "127.0.0.1", "--port", "8123", "--tensor-parallel-size", "2",
    )  # fmt: skip
    assert plan.base_url == "http://127.0.0.1:8123"


async def test_a_managed_fleet_starts_empty_and_healthy() -> None:
    backend = VllmBackend((), launch=fake_launch("vllm", "serve"))
    assert (await backend.health()).ok
    assert await backend.list_models() == []
    await backend.close()


async def test_install_reports_loading_progress_until_the_server_is_healthy() -> None:
    launch = dataclasses.replace(
        fake_launch("vllm", "serve"), extra_args=("--startup-delay", "2.5")
    )
    backend = VllmBackend((), launch=launch)
    progress = [p.status async for p in backend.install(INSTALLABLE_HF)]
    await backend.close()

    assert progress[0].startswith("starting ")
    assert "--served-model-name" in progress[0]
    assert any(s.startswith(f"loading {INSTALLABLE_HF} into vLLM") for s in progress)
    assert progress[-1] == "success"


async def test_a_server_that_exits_during_startup_fails_the_install_with_its_log() -> None:
    crash = "import sys; print('torch.OutOfMemoryError: CUDA out of memory'); sys.exit(3)"
    launch = dataclasses.replace(fake_launch("vllm"), command=(sys.executable, "-c", crash))
    backend = VllmBackend((), launch=launch)

    with pytest.raises(InstallFailed, match=r"(?s)exited with status 3.*CUDA out of memory"):
        async for _ in backend.install(INSTALLABLE_HF):
            pass
    assert backend.instances == ()
    await backend.close()


async def test_a_missing_engine_executable_fails_the_install_clearly() -> None:
    launch = LaunchSettings(command=("/nonexistent/vllm", "serve"))
    backend = VllmBackend((), launch=launch)
    with pytest.raises(InstallFailed, match="Is the engine installed"):
        async for _ in backend.install(INSTALLABLE_HF):
            pass
    await backend.close()


async def test_a_started_server_that_died_is_reported_as_what_happened_to_it(
    tmp_path: Path,
) -> None:
    launch = dataclasses.replace(fake_launch("vllm", "serve"), log_dir=tmp_path)
    backend = VllmBackend((), launch=launch)
    async for _ in backend.install(INSTALLABLE_HF):
        pass
    (process,) = backend._processes.values()
    os.kill(process.pid, signal.SIGSEGV)
    await process.wait_exit(10)

    health = await backend.health()
    await backend.close()

    assert not health.ok
    assert (
        "vllm serve" in health.detail
        and "crashed (SIGSEGV); last lines of its log:" in health.detail
    )
    assert health.detail.endswith(f"log file: {process.log_path}")
    assert process.log_path.parent == tmp_path


async def test_close_stops_the_servers_the_node_started() -> None:
    backend = VllmBackend((), launch=fake_launch("vllm", "serve"))
    async for _ in backend.install(INSTALLABLE_HF):
        pass
    (launched,) = backend.instances
    assert httpx.get(f"{launched.host}/health").status_code == 200

    await backend.close()

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{launched.host}/health")
