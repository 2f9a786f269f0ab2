"""The behaviour every backend adapter owes the node daemon, checked against each engine.

Each test runs once per engine (Ollama, vLLM, SGLang, MAX), each against a fake server
that speaks that engine's real API (see `tests/fakes`).
"""

from __future__ import annotations

import pytest

from infernet.backends.base import (
    Backend,
    ChatMessage,
    Finish,
    GenerationEvent,
    GenerationRequest,
    PullProgress,
    TokenDelta,
)
from infernet.backends.errors import BackendError, BackendUnavailable, ModelNotLoaded
from tests.backends.conftest import Harness

pytestmark = pytest.mark.timeout(120)

CHAT = (
    ChatMessage("system", "Be brief."),
    ChatMessage("user", "hello there world"),
)


def ask(model: str, **kw: object) -> GenerationRequest:
    return GenerationRequest(model=model, messages=CHAT, **kw)  # type: ignore[arg-type]


async def collect(backend: Backend, request: GenerationRequest) -> list[GenerationEvent]:
    return [event async for event in backend.generate(request)]


async def install_all(backend: Backend, model: str) -> list[PullProgress]:
    return [progress async for progress in backend.install(model)]


def test_every_adapter_is_a_backend(harness: Harness) -> None:
    assert isinstance(harness.backend, Backend)
    assert harness.backend.name == harness.name


async def test_streams_the_engines_tokens_then_one_finish_with_its_usage(
    harness: Harness,
) -> None:
    events = await collect(harness.backend, ask(harness.model))

    pieces = [text for e in events if isinstance(e, TokenDelta) for text in e.texts]
    assert "".join(pieces) == "echo: hello there world"
    assert len(pieces) == 4
    assert isinstance(events[-1], Finish)
    assert [e for e in events if isinstance(e, Finish)] == [events[-1]]
    usage = events[-1].usage
    # prompt: "Be brief." (2 words + role) and "hello there world" (3 + role)
    assert (usage.prompt_tokens, usage.completion_tokens) == (7, 4)
    assert usage.source == "backend"
    assert events[-1].finish_reason == "stop"


async def test_max_tokens_caps_the_reply_and_says_length(harness: Harness) -> None:
    events = await collect(harness.backend, ask(harness.model, max_tokens=2))

    finish = events[-1]
    assert isinstance(finish, Finish)
    assert finish.usage.completion_tokens == 2
    assert finish.finish_reason == "length"


async def test_lists_the_models_the_engine_holds(harness: Harness) -> None:
    names = [m.name for m in await harness.backend.list_models()]
    assert harness.model in names


async def test_install_reports_progress_and_then_serves_the_model(harness: Harness) -> None:
    progress = await install_all(harness.backend, harness.installable)

    assert progress, "install must report progress"
    assert progress[-1].status == "success"
    assert harness.installable in [m.name for m in await harness.backend.list_models()]
    events = await collect(harness.backend, ask(harness.installable))
    assert isinstance(events[-1], Finish)


async def test_remove_takes_an_installed_model_away(harness: Harness) -> None:
    await install_all(harness.backend, harness.installable)

    await harness.backend.remove(harness.installable)

    assert harness.installable not in [m.name for m in await harness.backend.list_models()]
    with pytest.raises(ModelNotLoaded):
        await collect(harness.backend, ask(harness.installable))


async def test_removing_a_model_that_is_not_there_says_so(harness: Harness) -> None:
    with pytest.raises(ModelNotLoaded):
        await harness.backend.remove("no-such-model:1b")


async def test_health_is_ok_while_the_engine_answers(harness: Harness) -> None:
    health = await harness.backend.health()
    assert health.ok, health.detail


async def test_health_is_down_with_a_reason_when_the_engine_is_gone(harness: Harness) -> None:
    health = await harness.down.health()
    assert not health.ok
    assert harness.down.host.split("//")[1] in health.detail


async def test_a_model_the_engine_does_not_hold_is_model_not_loaded(harness: Harness) -> None:
    with pytest.raises(ModelNotLoaded):
        await collect(harness.backend, ask("no-such-model:1b"))


async def test_an_engine_that_is_down_is_backend_unavailable(harness: Harness) -> None:
    with pytest.raises(BackendUnavailable):
        await collect(harness.down, ask(harness.model))
    with pytest.raises(BackendUnavailable):
        await harness.down.list_models()


async def test_an_engine_dying_mid_stream_is_an_error_never_made_up_text(
    harness: Harness,
) -> None:
    harness.crash_after(2)
    seen: list[GenerationEvent] = []

    with pytest.raises(BackendError):
        async for event in harness.backend.generate(ask(harness.model)):
            seen.append(event)

    assert all(isinstance(e, TokenDelta) for e in seen), "no Finish after a crash"
    assert "".join(t for e in seen if isinstance(e, TokenDelta) for t in e.texts) == "echo: hello"
