"""Model install/remove orchestration: what reaches the backend and the config, and when."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from infernet.backends.base import ChatMessage, GenerationRequest, PullProgress
from infernet.backends.detect import BackendSettings, build_backend
from infernet.backends.errors import InstallFailed
from infernet.backends.llamacpp import LlamaCppBackend
from infernet.node.config import NodeConfig, load_config, save_config
from infernet.node.models import (
    MemoryBudget,
    ModelManager,
    NotInstalled,
    WontFit,
    WrongNameFormat,
    backend_name,
)
from tests.fakes.ollama import OllamaState
from tests.fakes.ollama import create_app as ollama_app
from tests.fakes.server import serve
from tests.support.scripted import ScriptedBackend

BUDGET = MemoryBudget(24.0, "VRAM")


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    save_config(NodeConfig(served_models=["a:1b"]), path)
    return path


class Syncs:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> bool:
        self.count += 1
        return True


class BrokenPull(ScriptedBackend):
    async def install(self, model: str) -> AsyncIterator[PullProgress]:
        yield PullProgress("pulling", 10, 100)
        raise InstallFailed("the registry went away")


class SlowPull(ScriptedBackend):
    active = 0
    most = 0

    async def install(self, model: str) -> AsyncIterator[PullProgress]:
        SlowPull.active += 1
        SlowPull.most = max(SlowPull.most, SlowPull.active)
        try:
            await asyncio.sleep(0.05)
        finally:
            SlowPull.active -= 1
        self.models.append(model)
        yield PullProgress("success", 1, 1)


async def test_install_pulls_then_lists_the_model_then_syncs(config_path: Path) -> None:
    backend, syncs, seen = ScriptedBackend(["a:1b"], backend_name="ollama"), Syncs(), []
    outcome = await ModelManager(backend, config_path, BUDGET, syncs).install(
        "qwen2.5:7b", progress=seen.append
    )
    assert backend.models == ["a:1b", "qwen2.5:7b"]
    assert load_config(config_path).served_models == ["a:1b", "qwen2.5:7b"]
    assert outcome.added and outcome.pulled and outcome.synced and syncs.count == 1
    assert seen[-1].status == "success"


async def test_a_failed_pull_leaves_the_config_byte_for_byte_unchanged(config_path: Path) -> None:
    before = config_path.read_bytes()
    manager = ModelManager(BrokenPull(["a:1b"], backend_name="ollama"), config_path, BUDGET)
    with pytest.raises(InstallFailed):
        await manager.install("qwen2.5:7b")
    assert config_path.read_bytes() == before


async def test_an_interrupted_install_leaves_the_config_unchanged(config_path: Path) -> None:
    before = config_path.read_bytes()
    backend = SlowPull(["a:1b"], backend_name="ollama")
    task = asyncio.create_task(ModelManager(backend, config_path, BUDGET).install("qwen2.5:7b"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert config_path.read_bytes() == before


async def test_two_installs_at_once_run_one_after_the_other(config_path: Path) -> None:
    backend = SlowPull(["a:1b"], backend_name="ollama")
    SlowPull.active = SlowPull.most = 0
    first = ModelManager(backend, config_path, BUDGET).install("qwen2.5:7b")
    second = ModelManager(backend, config_path, BUDGET).install("llama3.2:3b")
    await asyncio.gather(first, second)
    assert SlowPull.most == 1
    assert sorted(load_config(config_path).served_models) == ["a:1b", "llama3.2:3b", "qwen2.5:7b"]


async def test_a_model_that_cannot_fit_is_refused_unless_forced(config_path: Path) -> None:
    backend = ScriptedBackend(["a:1b"], backend_name="ollama")
    manager = ModelManager(backend, config_path, MemoryBudget(8.0, "VRAM"))
    with pytest.raises(WontFit, match=r"does not fit"):
        await manager.install("qwen2.5:72b")
    assert backend.models == ["a:1b"]
    outcome = await manager.install("qwen2.5:72b", force=True)
    assert outcome.name in load_config(config_path).served_models
    assert any("does not fit" in note for note in outcome.notes)


def test_names_in_another_backends_scheme_are_refused_with_the_right_name() -> None:
    with pytest.raises(WrongNameFormat) as refused:
        backend_name("qwen2.5:14b", "vllm", strict=True)
    assert refused.value.suggestion == "Qwen/Qwen2.5-14B-Instruct"
    assert "infernet model install Qwen/Qwen2.5-14B-Instruct" in str(refused.value)
    assert backend_name("qwen2.5:14b", "vllm", strict=False) == "Qwen/Qwen2.5-14B-Instruct"
    assert backend_name("Qwen/Qwen2.5-14B-Instruct", "ollama", strict=False) == "qwen2.5:14b"
    assert backend_name("hf:Qwen/Qwen2.5-7B-Instruct", "sglang", strict=True) == (
        "Qwen/Qwen2.5-7B-Instruct"
    )
    with pytest.raises(WrongNameFormat, match="GGUF"):
        backend_name("qwen2.5:7b", "llamacpp", strict=False)


async def test_remove_drops_the_model_deletes_its_weights_and_syncs(config_path: Path) -> None:
    backend, syncs = ScriptedBackend(["a:1b", "b:1b"], backend_name="ollama"), Syncs()
    save_config(NodeConfig(served_models=["a:1b", "b:1b"]), config_path)
    outcome = await ModelManager(backend, config_path, None, syncs).remove("b:1b")
    assert load_config(config_path).served_models == ["a:1b"]
    assert backend.models == ["a:1b"] and outcome.deleted == "b:1b" and syncs.count == 1


async def test_removing_a_model_nobody_has_says_so(config_path: Path) -> None:
    with pytest.raises(NotInstalled, match="neither in served_models"):
        await ModelManager(ScriptedBackend(["a:1b"]), config_path).remove("zz:1b")


# --- llama.cpp: GGUF from a URL, with progress and resume ----------------------------------

GGUF = bytes(range(256)) * 4096  # 1 MiB


def ranged_file_app(requests: list[str]) -> Starlette:
    async def gguf(request: Request) -> Response:
        wanted = request.headers.get("range", "")
        requests.append(wanted)
        if wanted.startswith("bytes="):
            start = int(wanted[6:].split("-")[0])
            headers = {"content-range": f"bytes {start}-{len(GGUF) - 1}/{len(GGUF)}"}
            return Response(GGUF[start:], 206, headers=headers)
        return Response(GGUF, 200)

    return Starlette(routes=[Route("/models/tiny-1b-q4_k_m.gguf", gguf)])


@pytest.fixture
def gguf_server() -> Iterator[tuple[str, list[str]]]:
    requests: list[str] = []
    with serve(ranged_file_app(requests)) as url:
        yield f"{url}/models/tiny-1b-q4_k_m.gguf", requests


async def test_llamacpp_installs_a_gguf_url_with_progress_and_resumes(
    tmp_path: Path, config_path: Path, gguf_server: tuple[str, list[str]]
) -> None:
    url, requests = gguf_server
    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny-1b-q4_k_m.gguf.part").write_bytes(GGUF[:1000])  # an interrupted download
    backend = LlamaCppBackend("http://127.0.0.1:9", models_dir=models)

    class NoServer(LlamaCppBackend):
        async def list_models(self):  # type: ignore[no-untyped-def]
            return []

    backend.__class__ = NoServer
    seen: list[PullProgress] = []
    outcome = await ModelManager(backend, config_path, BUDGET).install(url, progress=seen.append)
    assert requests == ["bytes=1000-"]
    assert (models / "tiny-1b-q4_k_m.gguf").read_bytes() == GGUF
    assert outcome.name == "tiny-1b-q4_k_m.gguf"
    assert "tiny-1b-q4_k_m.gguf" in load_config(config_path).served_models
    totals = {p.total for p in seen if p.total}
    assert totals == {len(GGUF)} and seen[-1].completed == len(GGUF)


# --- keep-alive from the config reaches Ollama ---------------------------------------------


async def test_the_configs_ollama_keep_alive_reaches_ollamas_requests() -> None:
    state = OllamaState(installed={"qwen2.5:7b": 10})
    with serve(ollama_app(state)) as url:
        config = NodeConfig(ollama_host=url, backend="ollama", env={"OLLAMA_KEEP_ALIVE": "-1"})
        settings = BackendSettings.from_sources(config.model_dump(), env={})
        backend = build_backend(settings, "ollama")
        request = GenerationRequest("qwen2.5:7b", (ChatMessage("user", "hi"),), max_tokens=4)
        async for _ in backend.generate(request):
            pass
        await backend.close()
    assert state.chat_requests[-1]["keep_alive"] == -1
