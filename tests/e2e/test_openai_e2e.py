"""The official `openai` SDK against the whole network on real llama.cpp: what it gets
through Infernet's /v1 equals what llama.cpp answers directly, text and usage."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from infernet.localnet import LocalNetwork
from tests.e2e.direct import direct_answer

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

QUESTION: list[Any] = [{"role": "user", "content": "What is the capital of France?"}]


def sdk(net: LocalNetwork) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{net.url}/v1", api_key=net.api_key, max_retries=0)


async def test_the_sdks_answer_and_usage_equal_llamacpps(network: LocalNetwork) -> None:
    body = {"messages": QUESTION, "max_tokens": 48, "temperature": 0.0, "seed": 42}
    answer = await sdk(network).chat.completions.create(model=network.model_name, **body)
    direct = await direct_answer(network, {"model": network.model_name, **body})
    assert answer.choices[0].message.content == direct["choices"][0]["message"]["content"]
    assert answer.choices[0].finish_reason == direct["choices"][0]["finish_reason"]
    assert answer.usage is not None
    assert answer.usage.model_dump(
        include={"prompt_tokens", "completion_tokens", "total_tokens"}
    ) == {k: direct["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


async def test_the_sdks_stream_adds_up_to_llamacpps_answer(network: LocalNetwork) -> None:
    body = {"messages": QUESTION, "max_tokens": 32, "temperature": 0.0, "seed": 7}
    stream = await sdk(network).chat.completions.create(
        model=network.model_name, stream=True, stream_options={"include_usage": True}, **body
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    direct = await direct_answer(network, {"model": network.model_name, **body})
    assert len(chunks) > 3, "tokens arrive as they are produced"
    assert text == direct["choices"][0]["message"]["content"]
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == direct["usage"]["completion_tokens"]
    assert usage.prompt_tokens == direct["usage"]["prompt_tokens"]


async def test_models_lists_the_served_model(network: LocalNetwork) -> None:
    models = [m.id async for m in sdk(network).models.list()]
    assert models == [network.model_name]
