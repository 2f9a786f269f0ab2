"""The context each engine runs a model with, and prompts that do not fit it.

Every adapter reports the context the engine actually gives the model, and turns the
engine's refusal of an over-long prompt into ContextLengthExceeded with the engine's own
count, never into "backend unavailable". A `max_tokens` larger than the room the prompt
leaves is clamped, not refused. Ollama is never left to cut a prompt silently.
(The fakes count one token per word plus one per message.)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from types import ModuleType

import httpx
import pytest

from infernet.backends.base import ChatMessage, Finish, GenerationRequest, TokenDelta
from infernet.backends.context import context_error
from infernet.backends.detect import BackendSettings, build_backend
from infernet.backends.errors import ContextLengthExceeded
from infernet.backends.launcher import OpenAIEngineBackend
from infernet.backends.llamacpp import LlamaCppBackend
from infernet.backends.max import MaxBackend
from infernet.backends.ollama import OllamaBackend
from infernet.backends.sglang import SGLangBackend
from infernet.backends.vllm import VllmBackend
from tests.backends.conftest import SERVED_HF
from tests.fakes import llamacpp as fake_llamacpp
from tests.fakes import max as fake_max
from tests.fakes import sglang as fake_sglang
from tests.fakes import vllm as fake_vllm
from tests.fakes.ollama import DEFAULT_NUM_CTX, OllamaState
from tests.fakes.ollama import create_app as ollama_app
from tests.fakes.openai_engine import EngineState
from tests.fakes.server import serve

ENGINES: dict[str, tuple[type[OpenAIEngineBackend], ModuleType]] = {
    "vllm": (VllmBackend, fake_vllm),
    "sglang": (SGLangBackend, fake_sglang),
    "max": (MaxBackend, fake_max),
}
OLLAMA_MODEL = "llama3.2:3b"
OLLAMA_SIZE = 2_019_393_189
# llama3.2:3b in the fake: 28 layers x 8 KV heads x (128 + 128) x 2 bytes per token
OLLAMA_KV_PER_TOKEN = 28 * 8 * 256 * 2


def words(count: int) -> str:
    return " ".join(["word"] * count)


def ask(model: str, text: str, max_tokens: int = 16) -> GenerationRequest:
    return GenerationRequest(model, (ChatMessage("user", text),), max_tokens=max_tokens)


async def run(backend: object, request: GenerationRequest) -> list[object]:
    return [event async for event in backend.generate(request)]  # type: ignore[attr-defined]


@pytest.fixture(params=list(ENGINES))
async def small_engine(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[str, OpenAIEngineBackend, EngineState]]:
    """An OpenAI-compatible engine serving SERVED_HF with a 64-token context."""
    cls, module = ENGINES[request.param]
    state = EngineState(served_model=SERVED_HF, model_path=SERVED_HF, max_model_len=64)
    with serve(module.create_app(state)) as url:
        backend = cls.at(url, SERVED_HF)
        yield request.param, backend, state
        await backend.close()


async def test_each_openai_engine_reports_the_context_of_its_card(
    small_engine: tuple[str, OpenAIEngineBackend, EngineState],
) -> None:
    _, backend, _ = small_engine
    [model] = await backend.list_models()
    assert (model.name, model.context_length) == (SERVED_HF, 64)


async def test_a_prompt_over_the_context_is_the_engines_refusal_with_its_count(
    small_engine: tuple[str, OpenAIEngineBackend, EngineState],
) -> None:
    _, backend, _ = small_engine
    with pytest.raises(ContextLengthExceeded) as refused:
        await run(backend, ask(SERVED_HF, words(99)))  # 99 words + 1 = 100 tokens

    assert (refused.value.prompt_tokens, refused.value.context_length) == (100, 64)


async def test_max_tokens_beyond_the_room_left_is_clamped_not_refused(
    small_engine: tuple[str, OpenAIEngineBackend, EngineState],
) -> None:
    name, backend, state = small_engine
    # 40 prompt tokens leave 24 of 64; the answer echoes 41 words if allowed.
    events = await run(backend, ask(SERVED_HF, words(39), max_tokens=200))

    finish = events[-1]
    assert isinstance(finish, Finish)
    assert finish.finish_reason == "length"
    answer = sum(len(e.texts) for e in events if isinstance(e, TokenDelta))
    asked = [r["max_tokens"] for r in state.chat_requests]
    if name == "max":  # MAX clamps by itself: one request
        assert (asked, answer) == ([200], 24)
    else:  # vLLM and SGLang refuse it: asked again for the room their refusal counts
        assert (asked, answer) == ([200, 23], 23)


async def test_llamacpp_reports_the_servers_per_slot_context() -> None:
    with serve(fake_llamacpp.create_app("m.gguf", n_ctx=8192)) as url:
        backend = LlamaCppBackend(url)
        [model] = await backend.list_models()
        await backend.close()
    assert model.context_length == 8192


async def test_llama_swap_says_no_context_and_none_is_made_up() -> None:
    with serve(fake_llamacpp.create_app("m.gguf", swap=True)) as url:
        backend = LlamaCppBackend(url)
        [model] = await backend.list_models()
        await backend.close()
    assert model.context_length is None


# Refusals as the real engines word them (sources in backends/context.py), and replies
# that must not be mistaken for one.
REFUSALS = {
    "llama-server": (
        '{"error": {"code": 400, "message": "request (4476 tokens) exceeds the available '
        'context size (4096 tokens), try increasing it", "type": "exceed_context_size_error", '
        '"n_prompt_tokens": 4476, "n_ctx": 4096}}',
        (4476, 4096),
    ),
    "ollama truncate:false": (
        '{"error":"{\\"error\\":{\\"code\\":400,\\"message\\":\\"request (351 tokens) '
        'exceeds the available context size (256 tokens), try increasing it\\",\\"type\\":'
        '\\"exceed_context_size_error\\",\\"n_prompt_tokens\\":351,\\"n_ctx\\":256}}"}',
        (351, 256),
    ),
    "llama-cpp-python": ("Requested tokens (3801) exceed context window of 2048", (3801, 2048)),
    "vllm prompt": (
        "This model's maximum context length is 2048 tokens. However, your request has 3000 "
        "input tokens. Please reduce the length of the input messages.",
        (3000, 2048),
    ),
    "vllm max_tokens": (
        "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum "
        "context length is 4096 tokens and your request has 2778 input tokens "
        "(8000 > 4096 - 2778). None",
        (2778, 4096),
    ),
    "vllm 0.19": (
        "This model's maximum context length is 16384 tokens. However, you requested 8192 "
        "output tokens and your prompt contains at least 8193 input tokens, for a total of "
        "at least 16385 tokens.",
        (8193, 16384),
    ),
    "vllm v1 processor": (
        "The decoder prompt (length 2048) is longer than the maximum model length of 2048.",
        (2048, 2048),
    ),
    "sglang prompt": (
        "The input (150000 tokens) is longer than the model's context length (128000 tokens).",
        (150000, 128000),
    ),
    "sglang total": (
        "Requested token count exceeds the model's maximum context length of 64000 tokens. "
        "You requested a total of 71897 tokens: 7897 tokens from the input messages and "
        "64000 tokens for the completion.",
        (7897, 64000),
    ),
    "max": (
        "Prompt is too long: 9000 tokens exceeds the configured maximum context length of "
        "8192 tokens. Please shorten your prompt.",
        (9000, 8192),
    ),
}


@pytest.mark.parametrize("engine", list(REFUSALS))
def test_each_engines_refusal_is_read_with_its_own_numbers(engine: str) -> None:
    body, (prompt, context) = REFUSALS[engine]
    refused = context_error(body)
    assert refused is not None
    assert (refused.prompt_tokens, refused.context_length) == (prompt, context)


@pytest.mark.parametrize(
    "body",
    [
        '{"error": {"message": "The model `x` does not exist.", "type": "NotFoundError"}}',
        '{"error": "an error was encountered while running the model"}',
        "Internal Server Error",
    ],
)
def test_other_errors_are_not_taken_for_a_context_refusal(body: str) -> None:
    assert context_error(body) is None


# -- Ollama --------------------------------------------------------------------------------


@pytest.fixture
def ollama_state() -> OllamaState:
    return OllamaState(installed={OLLAMA_MODEL: OLLAMA_SIZE}, trained={OLLAMA_MODEL: 16384})


@pytest.fixture
def ollama_url(ollama_state: OllamaState) -> Iterator[str]:
    with serve(ollama_app(ollama_state)) as url:
        yield url


async def ollama_models(url: str, **settings: int) -> dict[str, int | None]:
    backend = OllamaBackend(url, **settings)
    models = {m.name: m.context_length for m in await backend.list_models()}
    await backend.close()
    return models


async def test_ollama_reports_the_trained_context_its_memory_and_its_cap_allow(
    ollama_url: str,
) -> None:
    one_gb_for_kv = OLLAMA_SIZE + 1_000_000_000  # 8192 tokens of KV fit, 16384 do not
    assert 8192 * OLLAMA_KV_PER_TOKEN < 1_000_000_000 < 16384 * OLLAMA_KV_PER_TOKEN

    assert await ollama_models(ollama_url) == {OLLAMA_MODEL: 16384}
    assert await ollama_models(ollama_url, memory_bytes=one_gb_for_kv) == {OLLAMA_MODEL: 8192}
    assert await ollama_models(ollama_url, context_cap=4096) == {OLLAMA_MODEL: 4096}


async def test_ollama_gets_a_context_that_holds_the_prompt_instead_of_cutting_it(
    ollama_url: str, ollama_state: OllamaState
) -> None:
    backend = OllamaBackend(ollama_url)
    events = await run(backend, ask(OLLAMA_MODEL, words(5000)))  # over the 4096 default
    await backend.close()

    finish = events[-1]
    assert isinstance(finish, Finish)
    assert finish.usage.prompt_tokens == 5001  # all of it: nothing was cut
    sent = ollama_state.chat_requests[-1]
    # the power of two its upper bound (bytes) asks for, within the model's limit
    assert sent["options"]["num_ctx"] == 16384


async def test_a_prompt_over_ollamas_limit_is_refused_with_the_engines_count(
    ollama_url: str, ollama_state: OllamaState
) -> None:
    backend = OllamaBackend(ollama_url)
    with pytest.raises(ContextLengthExceeded) as refused:
        await run(backend, ask(OLLAMA_MODEL, words(20000)))
    await backend.close()

    assert (refused.value.prompt_tokens, refused.value.context_length) == (20001, 16384)
    assert ollama_state.chat_requests[-1]["truncate"] is False  # what made Ollama refuse


async def test_left_to_itself_ollama_cuts_the_prompt_silently(ollama_url: str) -> None:
    """What the adapter protects against: the same prompt as Ollama's own clients send it
    (no num_ctx, no truncate) is answered from its last 4,096 tokens, without an error."""
    body = {"model": OLLAMA_MODEL, "messages": [{"role": "user", "content": words(20000)}]}
    async with httpx.AsyncClient(base_url=ollama_url) as client:
        response = await client.post("/api/chat", json=body)

    assert response.status_code == 200
    assert json.loads(response.text.splitlines()[-1])["prompt_eval_count"] == DEFAULT_NUM_CTX


async def test_ollamas_window_only_grows_so_the_model_is_not_reloaded_each_time(
    ollama_url: str, ollama_state: OllamaState
) -> None:
    backend = OllamaBackend(ollama_url)
    await run(backend, ask(OLLAMA_MODEL, words(3000)))
    await run(backend, ask(OLLAMA_MODEL, "hello"))
    await backend.close()

    assert [r["options"]["num_ctx"] for r in ollama_state.chat_requests] == [16384, 16384]
    assert ollama_state.loads == [(OLLAMA_MODEL, 16384)]


async def test_the_answer_stops_where_ollamas_context_is_full(
    ollama_url: str, ollama_state: OllamaState
) -> None:
    backend = OllamaBackend(ollama_url, context_cap=4096)
    request = ask(OLLAMA_MODEL, words(4090), max_tokens=100)  # 4091 tokens: room for 5
    events = await run(backend, request)
    await backend.close()

    finish = events[-1]
    assert isinstance(finish, Finish)
    assert (finish.finish_reason, finish.usage.completion_tokens) == ("length", 5)


async def test_the_cap_comes_from_the_node_config_or_ollamas_own_variable(
    ollama_url: str,
) -> None:
    from_config = BackendSettings.from_sources({"ollama_num_ctx": 8192}, env={})
    from_env = BackendSettings.from_sources({}, env={"OLLAMA_CONTEXT_LENGTH": "4096"})
    assert (from_config.ollama_num_ctx, from_env.ollama_num_ctx) == (8192, 4096)

    backend = build_backend(from_config, "ollama", ollama_url)
    [model] = await backend.list_models()
    await backend.close()
    assert model.context_length == 8192
