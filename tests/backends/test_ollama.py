"""Ollama adapter: what it sends to Ollama's native API and how it reads the answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from infernet.backends.base import ChatMessage, Finish, GenerationRequest, TokenDelta
from infernet.backends.errors import BackendError, InstallFailed, ModelNotLoaded
from infernet.backends.ollama import OllamaBackend, normalize_keep_alive
from tests.fakes.ollama import OllamaState

HELLO = (ChatMessage("user", "hello there world"),)


@pytest.fixture
async def ollama(ollama_url: str) -> AsyncIterator[OllamaBackend]:
    backend = OllamaBackend(ollama_url)
    yield backend
    await backend.close()


async def run(backend: OllamaBackend, request: GenerationRequest) -> list[object]:
    return [event async for event in backend.generate(request)]


async def test_sampling_settings_travel_as_ollama_options(
    ollama: OllamaBackend, ollama_state: OllamaState
) -> None:
    request = GenerationRequest(
        "llama3.2:3b", HELLO, max_tokens=64, temperature=0.2, top_p=0.9, stop=("END",), seed=7
    )
    await run(ollama, request)

    sent = ollama_state.chat_requests[-1]
    assert sent["stream"] is True
    assert sent["messages"] == [{"role": "user", "content": "hello there world"}]
    assert sent["options"] == {
        "temperature": 0.2,
        "top_p": 0.9,
        "num_predict": 64,
        "num_ctx": 4096,  # the node sets the context (ollama_context.py), never Ollama's default
        "stop": ["END"],
        "seed": 7,
    }
    assert sent["truncate"] is False and sent["shift"] is False


async def test_without_a_keep_alive_setting_ollama_keeps_its_own(
    ollama: OllamaBackend, ollama_state: OllamaState
) -> None:
    await run(ollama, GenerationRequest("llama3.2:3b", HELLO))
    assert "keep_alive" not in ollama_state.chat_requests[-1]


@pytest.mark.parametrize(
    ("setting", "sent"),
    [("5m", "5m"), ("-1", -1), (-1, -1), ("0", 0), ("1h30m", "1h30m"), ("300", 300)],
)
async def test_keep_alive_goes_with_every_request_in_a_form_ollama_accepts(
    ollama_url: str, ollama_state: OllamaState, setting: str | int, sent: str | int
) -> None:
    backend = OllamaBackend(ollama_url, keep_alive=setting)
    for _ in range(2):
        events = await run(backend, GenerationRequest("llama3.2:3b", HELLO))
        assert isinstance(events[-1], Finish)
    await backend.close()

    assert [r["keep_alive"] for r in ollama_state.chat_requests] == [sent, sent]


async def test_keep_alive_zero_unloads_the_model_after_the_reply(
    ollama_url: str, ollama_state: OllamaState
) -> None:
    backend = OllamaBackend(ollama_url, keep_alive=0)
    await run(backend, GenerationRequest("llama3.2:3b", HELLO))
    models = {m.name: m for m in await backend.list_models()}
    await backend.close()

    assert not models["llama3.2:3b"].loaded


def test_a_keep_alive_ollama_would_refuse_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="keep_alive"):
        normalize_keep_alive("forever")


async def test_list_models_reports_size_and_which_models_are_hot(ollama: OllamaBackend) -> None:
    models = {m.name: m for m in await ollama.list_models()}

    assert models["qwen2.5:7b"].size_bytes == 4_683_075_271
    assert models["qwen2.5:7b"].loaded
    assert not models["llama3.2:3b"].loaded


async def test_a_model_becomes_hot_once_it_has_answered(ollama: OllamaBackend) -> None:
    await run(ollama, GenerationRequest("llama3.2:3b", HELLO))
    models = {m.name: m for m in await ollama.list_models()}
    assert models["llama3.2:3b"].loaded


async def test_pull_progress_carries_bytes_completed_and_total(ollama: OllamaBackend) -> None:
    progress = [p async for p in ollama.install("smollm2:135m")]

    assert progress[0].status == "pulling manifest"
    layer = [p for p in progress if p.total == 270_898_672]
    assert [p.completed for p in layer] == [
        None,
        270_898_672 // 4,
        270_898_672 // 2,
        270_898_672 * 3 // 4,
        270_898_672,
    ]
    assert progress[-1].status == "success"


async def test_a_failed_pull_raises_with_ollamas_reason(ollama: OllamaBackend) -> None:
    with pytest.raises(InstallFailed, match="file does not exist"):
        async for _ in ollama.install("no-such-model:1b"):
            pass


async def test_deleting_a_missing_model_is_model_not_loaded(ollama: OllamaBackend) -> None:
    with pytest.raises(ModelNotLoaded, match="no-such"):
        await ollama.remove("no-such:1b")


async def test_an_error_line_mid_stream_is_raised_not_swallowed(
    ollama: OllamaBackend, ollama_state: OllamaState
) -> None:
    ollama_state.error_after_tokens = 1
    seen: list[object] = []
    with pytest.raises(BackendError, match="error was encountered"):
        async for event in ollama.generate(GenerationRequest("llama3.2:3b", HELLO)):
            seen.append(event)
    assert seen == [TokenDelta(("echo:",))]


async def test_an_unknown_model_names_the_install_command(ollama: OllamaBackend) -> None:
    with pytest.raises(ModelNotLoaded, match="infernet model install mistral:7b"):
        await run(ollama, GenerationRequest("mistral:7b", HELLO))


async def test_health_reports_the_ollama_version(ollama: OllamaBackend) -> None:
    health = await ollama.health()
    assert health.ok
    assert health.extra["version"] == "0.33.0"
