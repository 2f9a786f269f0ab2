"""Each backend adapter wired to its fake engine, behind one `Harness` shape.

A harness holds a backend that already serves `model`, can install `installable` (Ollama
pulls it from the fake registry; vLLM/SGLang/MAX launch the fake engine as a separate
process through managed launch), can be made to die mid-stream, and has a twin pointed at
a port where nothing listens.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infernet.backends.base import Backend
from infernet.backends.launcher import EngineInstance, LaunchSettings, OpenAIEngineBackend
from infernet.backends.max import MaxBackend
from infernet.backends.ollama import OllamaBackend
from infernet.backends.sglang import SGLangBackend
from infernet.backends.vllm import VllmBackend
from tests.fakes import max as fake_max
from tests.fakes import sglang as fake_sglang
from tests.fakes import vllm as fake_vllm
from tests.fakes.ollama import OllamaState
from tests.fakes.ollama import create_app as ollama_app
from tests.fakes.openai_engine import EngineState
from tests.fakes.server import closed_url, serve

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVED_HF = "Qwen/Qwen2.5-0.5B-Instruct"
INSTALLABLE_HF = "HuggingFaceTB/SmolLM2-135M-Instruct"
ENGINES = ["ollama", "vllm", "sglang", "max"]


@dataclass
class Harness:
    name: str
    backend: Backend
    model: str
    installable: str
    crash_after: Callable[[int], None]
    down: Backend


def fake_launch(module: str, *prefix_args: str) -> LaunchSettings:
    """Managed launch that runs `python -m tests.fakes.<module>` instead of the engine."""
    return LaunchSettings(
        command=(sys.executable, "-m", f"tests.fakes.{module}", *prefix_args),
        env={"PYTHONPATH": str(REPO_ROOT)},
        startup_timeout_s=60.0,
        stop_timeout_s=10.0,
    )


@pytest.fixture
def ollama_state() -> OllamaState:
    return OllamaState(
        registry={"smollm2:135m": [270_898_672, 1_024]},
        installed={"llama3.2:3b": 2_019_393_189, "qwen2.5:7b": 4_683_075_271},
        loaded={"qwen2.5:7b"},
    )


@pytest.fixture
def ollama_url(ollama_state: OllamaState) -> Iterator[str]:
    with serve(ollama_app(ollama_state)) as url:
        yield url


_OPENAI = {
    "vllm": (VllmBackend, fake_vllm, ("serve",)),
    "sglang": (SGLangBackend, fake_sglang, ()),
    "max": (MaxBackend, fake_max, ("serve",)),
}


def engine_state(served: str = SERVED_HF) -> EngineState:
    return EngineState(served_model=served, model_path=served)


async def _ollama_harness(state: OllamaState, url: str) -> AsyncIterator[Harness]:
    backend = OllamaBackend(url)
    down = OllamaBackend(closed_url())
    yield Harness(
        "ollama",
        backend,
        "llama3.2:3b",
        "smollm2:135m",
        lambda n: setattr(state, "crash_after_tokens", n),
        down,
    )
    await backend.close()
    await down.close()


async def _openai_harness(name: str) -> AsyncIterator[Harness]:
    cls, module, prefix = _OPENAI[name]
    state = engine_state()
    with serve(module.create_app(state)) as url:
        launch = fake_launch(name, *prefix)
        backend: OpenAIEngineBackend = cls([EngineInstance(url, SERVED_HF)], launch=launch)
        down = cls([EngineInstance(closed_url(), SERVED_HF)])
        yield Harness(
            name,
            backend,
            SERVED_HF,
            INSTALLABLE_HF,
            lambda n: setattr(state, "crash_after_tokens", n),
            down,
        )
        await backend.close()
        await down.close()


@pytest.fixture(params=ENGINES)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "ollama":
        state: OllamaState = request.getfixturevalue("ollama_state")
        url: str = request.getfixturevalue("ollama_url")
        async for h in _ollama_harness(state, url):
            yield h
    else:
        async for h in _openai_harness(request.param):
            yield h
