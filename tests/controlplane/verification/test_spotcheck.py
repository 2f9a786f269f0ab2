"""Spot-checks against a real engine: answers it produced pass; answers changed the
ways a dishonest node would change them fail, each with the check that caught it."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import httpx

from infernet.controlplane.verification.engine import LlamaServerScorer
from infernet.controlplane.verification.scoring import Usage
from infernet.controlplane.verification.spotcheck import Answer, SpotCheck

QUESTION = [{"role": "user", "content": "Give me three tips for keeping houseplants alive."}]


async def _answer(url: str, temperature: float, max_tokens: int = 48, seed: int = 5) -> Answer:
    body: dict[str, Any] = {"messages": QUESTION, "temperature": temperature}
    body |= {"max_tokens": max_tokens, "seed": seed}
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        done = (await client.post("/v1/chat/completions", json=body)).json()
    usage = done["usage"]
    return Answer(
        "job_1",
        "nd_1",
        QUESTION,
        temperature,
        1.0,
        max_tokens,
        [],
        done["choices"][0]["message"]["content"],
        done["choices"][0]["finish_reason"],
        Usage(usage["prompt_tokens"], usage["completion_tokens"]),
    )


async def _check(url: str, answer: Answer, seed: int = 1) -> set[str]:
    scorer = LlamaServerScorer(url)
    try:
        verdict = await SpotCheck(scorer, random.Random(seed), positions=48).check(answer)
    finally:
        await scorer.close()
    return {f.check for f in verdict.findings}


async def test_the_engines_own_answers_pass_greedy_and_sampled(engine_url: str) -> None:
    assert await _check(engine_url, await _answer(engine_url, 0.0)) == set()
    assert await _check(engine_url, await _answer(engine_url, 0.8)) == set()


async def test_a_greedy_answer_with_other_words_fails_where_they_differ(engine_url: str) -> None:
    honest = await _answer(engine_url, 0.0)
    words = honest.text.split(" ")
    changed = " ".join([*words[: len(words) // 2], "purple", "elephants", "dance"])
    found = await _check(engine_url, replace(honest, text=changed))
    assert "greedy_token" in found or "answer_end" in found


async def test_a_greedy_answer_cut_short_fails_at_its_end(engine_url: str) -> None:
    honest = await _answer(engine_url, 0.0, max_tokens=200)
    cut = replace(honest, text=honest.text[: len(honest.text) // 2], finish_reason="stop")
    assert "answer_end" in await _check(engine_url, cut)


async def test_sampling_hot_when_greedy_was_asked_fails(engine_url: str) -> None:
    greedy = await _answer(engine_url, 0.0)
    hot = await _answer(engine_url, 1.5, seed=11)
    assert await _check(engine_url, replace(greedy, text=hot.text, usage=hot.usage)) != set()


async def test_inflated_usage_is_flagged_by_the_recount(engine_url: str) -> None:
    honest = await _answer(engine_url, 0.0)
    inflated = Usage(honest.usage.prompt_tokens + 20, honest.usage.completion_tokens * 2)
    found = await _check(engine_url, replace(honest, usage=inflated))
    assert found == {"usage_prompt", "usage_completion"}
