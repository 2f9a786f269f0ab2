"""The OpenAI-compatible /v1, driven by the official `openai` SDK as a client, against a
control plane with real node daemons on scripted engines."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection
from datetime import datetime
from pathlib import Path

import openai
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.api import openai as openai_api
from infernet.controlplane.settings import Settings
from infernet.protocol.wire import Heartbeat
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend

QUESTION = [{"role": "user", "content": "capital of France?"}]
TOKENS = ["Paris", " is", " the", " capital", "."]


def sdk(harness: Harness, api_key: str | None = None) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{harness.url}/v1", api_key=api_key or harness.api_key, max_retries=0
    )


@pytest_asyncio.fixture
async def aliased(tmp_path: Path) -> AsyncIterator[Harness]:
    settings = Settings(model_aliases={"gpt-4o-mini": "m:1b", "gpt-4o": "big:70b"})
    async with running(tmp_path, settings) as h:
        yield h


async def test_a_chat_completion_answers_with_the_engines_text_usage_and_finish_reason(
    harness: Harness,
) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"]))
    answer = await sdk(harness).chat.completions.create(model="m:1b", messages=QUESTION)
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content == "".join(TOKENS)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (3, len(TOKENS))
    assert answer.usage.total_tokens == 3 + len(TOKENS)
    async with harness.client() as api:
        job = (await api.get(f"/api/v1/jobs/{answer.id}")).json()
    assert job["status"] == "completed" and job["result"]["content"] == "".join(TOKENS)


async def test_a_streamed_chat_completion_has_openais_chunk_sequence(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"]))
    stream = await sdk(harness).chat.completions.create(
        model="m:1b", messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    first, *pieces, last, usage = chunks
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == ""
    assert [p.choices[0].delta.content for p in pieces] == TOKENS
    assert all(p.choices[0].finish_reason is None and p.usage is None for p in pieces)
    assert last.choices[0].finish_reason == "stop" and last.choices[0].delta.content is None
    assert usage.choices == [] and usage.usage is not None
    assert usage.usage.completion_tokens == len(TOKENS)


async def test_a_stream_ends_with_done_and_has_no_usage_unless_asked(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"]))
    body = {"model": "m:1b", "messages": QUESTION, "stream": True}
    async with (
        harness.client() as api,
        api.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        lines = [line async for line in response.aiter_lines() if line.startswith("data: ")]
        assert response.headers["content-type"].startswith("text/event-stream")
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all("usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }


async def test_sampling_parameters_reach_the_engine(harness: Harness) -> None:
    backend = ScriptedBackend(["m:1b"])
    await harness.add_node(backend)
    client = sdk(harness)
    await client.chat.completions.create(
        model="m:1b",
        messages=[{"role": "developer", "content": "be brief"}, *QUESTION],
        temperature=0.2,
        top_p=0.9,
        max_completion_tokens=33,
        stop=["\n", "###"],
        seed=7,
        user="someone",
    )
    await client.chat.completions.create(model="m:1b", messages=QUESTION, stop="END", max_tokens=9)
    first, second = backend.requests
    assert (first.temperature, first.top_p, first.max_tokens, first.seed) == (0.2, 0.9, 33, 7)
    assert first.stop == ("\n", "###")
    assert first.messages[0].role == "system"  # `developer` is OpenAI's newer name for it
    assert second.stop == ("END",) and second.max_tokens == 9
    assert second.temperature == 1.0  # OpenAI's default


async def test_more_than_one_choice_is_refused_clearly(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"]))
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk(harness).chat.completions.create(model="m:1b", messages=QUESTION, n=2)
    assert "only n=1 is supported" in caught.value.message


async def test_unsupported_openai_parameters_are_refused_by_name(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"]))
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk(harness).chat.completions.create(model="m:1b", messages=QUESTION, tools=[tool])
    assert "'tools' is not supported" in caught.value.message


async def test_an_unknown_model_is_a_404_naming_the_served_ones(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"]))
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk(harness).chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert caught.value.code == "model_not_found"
    assert "gpt-4o-mini" in caught.value.message and "m:1b" in caught.value.message
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error"


async def test_an_alias_runs_the_model_it_maps_to(aliased: Harness) -> None:
    backend = ScriptedBackend(["m:1b"])
    await aliased.add_node(backend)
    answer = await sdk(aliased).chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert answer.choices[0].message.content == "".join(TOKENS)
    assert answer.model == "m:1b"
    assert backend.requests[0].model == "m:1b"


async def test_an_alias_of_a_model_nobody_serves_says_so(aliased: Harness) -> None:
    await aliased.add_node(ScriptedBackend(["m:1b"]))
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk(aliased).chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert "'gpt-4o' is an alias for 'big:70b'" in caught.value.message
    assert "m:1b" in caught.value.message


async def test_models_lists_served_models_and_aliases_that_reach_them(aliased: Harness) -> None:
    await aliased.add_node(ScriptedBackend(["m:1b"]))
    client = sdk(aliased)
    models = [m async for m in client.models.list()]
    assert [m.id for m in models] == ["m:1b", "gpt-4o-mini"]  # gpt-4o's model is not served
    assert all(m.object == "model" and m.owned_by == "infernet" and m.created > 0 for m in models)
    assert (await client.models.retrieve("m:1b")).id == "m:1b"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("gpt-4o")


async def test_models_are_listed_while_a_heartbeat_changes_what_a_node_serves(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list reads the nodes, then the database; a beat that drops a model in between
    (the fuzzer found a 500 there) does not break the list being made."""
    await harness.add_node(ScriptedBackend(["m:1b"]))
    registry = harness.control_plane.services.registry
    [node] = registry.all()
    real = openai_api.registered_at

    async def beat_meanwhile(db: AsyncEngine, node_ids: Collection[str]) -> dict[str, datetime]:
        registry.apply_heartbeat(
            node, Heartbeat(version="t", backend="llamacpp", backend_healthy=True, served_models=[])
        )
        return await real(db, node_ids)

    monkeypatch.setattr(openai_api, "registered_at", beat_meanwhile)
    client = sdk(harness)
    assert [m.id async for m in client.models.list()] == ["m:1b"]


async def test_an_engine_failure_mid_stream_raises_in_the_sdk_after_the_pieces_so_far(
    harness: Harness,
) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"], fail_after=2))
    stream = await sdk(harness).chat.completions.create(
        model="m:1b", messages=QUESTION, stream=True
    )
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Paris is"
    assert "scripted engine went away" in caught.value.message


async def test_an_engine_failure_without_streaming_is_a_502(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"], fail_after=0))
    with pytest.raises(openai.InternalServerError) as caught:
        await sdk(harness).chat.completions.create(model="m:1b", messages=QUESTION)
    assert caught.value.status_code == 502
    assert str(caught.value.code).startswith("backend_")


async def test_completions_send_the_prompt_as_one_user_message(harness: Harness) -> None:
    backend = ScriptedBackend(["m:1b"])
    await harness.add_node(backend)
    client = sdk(harness)
    answer = await client.completions.create(model="m:1b", prompt="Say hi", max_tokens=5)
    assert answer.object == "text_completion"
    assert answer.choices[0].text == "".join(TOKENS)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.completion_tokens == len(TOKENS)
    assert [(m.role, m.content) for m in backend.requests[0].messages] == [("user", "Say hi")]
    stream = await client.completions.create(
        model="m:1b", prompt="Say hi", stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "".join(TOKENS)
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 2 + len(TOKENS)


async def test_a_wrong_api_key_is_an_openai_authentication_error(harness: Harness) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        await sdk(harness, api_key="inft_sk_wrong").models.list()
    assert caught.value.code == "unauthorized"
