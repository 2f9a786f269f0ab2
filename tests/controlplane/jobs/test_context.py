"""Prompts too long for the model, as clients see it: a clear 400, never the node's fault.

Real node daemons on scripted engines that report a context and refuse, with their own
count, a prompt that does not fit it (tests/support/scripted.py: a prompt of W words is
W x `tokens_per_word` tokens to the engine; the control plane counts each word as at
least one token, protocol/tokens.py). Payments are on, so holds can be seen released.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest
import pytest_asyncio

from infernet.controlplane.settings import Settings
from infernet.localnet import LOCAL_DEMO_CREDIT
from infernet.protocol.money import usdc
from tests.e2e.sse import read_sse
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend

MODEL = "m:1b"


@pytest.fixture
def database_url() -> None:
    return None  # SQLite alone: nothing here depends on the store


@pytest_asyncio.fixture
async def paid(tmp_path: Path) -> AsyncIterator[Harness]:
    settings = Settings(payments_enabled=True, platform_key_path=str(tmp_path / "platform.key"))
    async with running(tmp_path, settings) as harness:
        yield harness


def prompt(words: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": " ".join(["word"] * words)}]


def sdk(harness: Harness) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{harness.url}/v1", api_key=harness.api_key, max_retries=0)


async def final(harness: Harness, job_id: str) -> dict[str, object]:
    async with harness.client() as api:
        for _ in range(300):
            job: dict[str, object] = (await api.get(f"/api/v1/jobs/{job_id}")).json()
            if job["status"] in ("completed", "failed"):
                return job
            await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never finished")


async def nothing_held(harness: Harness) -> bool:
    async with harness.client() as api:
        for _ in range(100):  # the hold is released a moment after the failure is stored
            money = (await api.get("/api/v1/billing/balance")).json()
            if usdc(money["held"]) == 0:
                return usdc(money["available"]) == usdc(LOCAL_DEMO_CREDIT)
            await asyncio.sleep(0.02)
    return False


async def test_a_prompt_no_node_can_hold_is_refused_before_anything_is_routed_or_held(
    paid: Harness,
) -> None:
    engine = ScriptedBackend([MODEL], context_length=64)
    await paid.add_node(engine)
    async with paid.client() as api:
        reply = await api.post("/api/v1/jobs", json={"model": MODEL, "messages": prompt(100)})
        jobs = (await api.get("/api/v1/jobs")).json()["jobs"]

    assert reply.status_code == 400
    body = reply.json()
    assert body["error"] == "context_length_exceeded"
    assert "at least 100 tokens" in body["error_message"]
    assert "64 tokens" in body["error_message"]
    assert engine.requests == [] and jobs == []
    assert await nothing_held(paid)


async def test_on_v1_the_refusal_is_openais_context_length_exceeded(paid: Harness) -> None:
    await paid.add_node(ScriptedBackend([MODEL], context_length=64))
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk(paid).chat.completions.create(model=MODEL, messages=prompt(100))  # type: ignore[arg-type]

    error = refused.value.body
    assert isinstance(error, dict)
    assert (error["code"], error["type"], error["param"]) == (
        "context_length_exceeded",
        "invalid_request_error",
        "messages",
    )
    assert "64 tokens" in error["message"]


async def test_a_prompt_the_engine_counts_too_long_fails_with_its_count_and_no_charge(
    paid: Harness,
) -> None:
    # 40 words: 40 tokens at least to the control plane, 80 to this engine's tokenizer.
    engine = ScriptedBackend([MODEL], context_length=64, tokens_per_word=2)
    await paid.add_node(engine)
    async with paid.client() as api:
        reply = await api.post("/api/v1/jobs", json={"model": MODEL, "messages": prompt(40)})
    assert reply.status_code == 202
    job = await final(paid, reply.json()["id"])

    assert (job["status"], job["error"]) == ("failed", "context_length_exceeded")
    assert "80 tokens (the engine's count)" in str(job["error_message"])
    assert "64 tokens" in str(job["error_message"])
    assert job["receipt_ids"] == []
    assert await nothing_held(paid)
    node = paid.control_plane.services.registry.all()[0]
    assert node.backend_healthy and not node.active_jobs  # not the node's fault
    assert paid.control_plane.routable_nodes(MODEL) == 1


async def test_the_engines_refusal_is_a_400_on_v1_and_an_error_in_every_stream(
    paid: Harness,
) -> None:
    await paid.add_node(ScriptedBackend([MODEL], context_length=64, tokens_per_word=2))
    client = sdk(paid)
    with pytest.raises(openai.BadRequestError) as refused:
        await client.chat.completions.create(model=MODEL, messages=prompt(40))  # type: ignore[arg-type]
    assert refused.value.code == "context_length_exceeded"

    stream = await client.chat.completions.create(model=MODEL, messages=prompt(40), stream=True)  # type: ignore[arg-type]
    with pytest.raises(openai.APIError) as broken:
        async for _ in stream:
            pass
    assert broken.value.code == "context_length_exceeded"

    body = {"model": MODEL, "messages": prompt(40), "stream": True}
    async with paid.client() as api, api.stream("POST", "/api/v1/jobs", json=body) as response:
        result = await read_sse(response)
    assert not result.done and result.error is not None
    assert result.error["error"] == "context_length_exceeded"


async def test_a_model_served_with_two_contexts_goes_where_the_prompt_fits(
    paid: Harness,
) -> None:
    small = ScriptedBackend([MODEL], context_length=64)
    large = ScriptedBackend([MODEL], context_length=4096)
    await paid.add_node(small)
    await paid.add_node(large)
    ids = []
    async with paid.client() as api:
        for _ in range(4):  # the router draws at random among equals: each must go large
            reply = await api.post("/api/v1/jobs", json={"model": MODEL, "messages": prompt(100)})
            ids.append(reply.json()["id"])
        jobs = [await final(paid, job_id) for job_id in ids]
    small_id = paid.nodes[0].daemon.node_id if paid.nodes[0].daemon else ""
    small_state = paid.control_plane.services.registry.get(small_id)

    assert {j["status"] for j in jobs} == {"completed"}
    assert small.requests == [] and len(large.requests) == 4
    assert small_state is not None  # what its owner's "Why no jobs?" shows
    assert small_state.passed_over.get("context_too_small") == 4


async def test_a_node_whose_engine_refuses_hands_the_job_to_one_with_room(
    paid: Harness,
) -> None:
    small = ScriptedBackend([MODEL], context_length=64, tokens_per_word=2)
    large = ScriptedBackend([MODEL], context_length=4096, tokens_per_word=2, delay_s=0.1)
    await paid.add_node(small)
    await paid.add_node(large)
    large_id = paid.nodes[1].daemon.node_id if paid.nodes[1].daemon else None
    async with paid.client() as api:
        busy = {"model": MODEL, "messages": prompt(1), "node_id": large_id}  # holds its one slot
        filler = (await api.post("/api/v1/jobs", json=busy)).json()["id"]
        reply = await api.post("/api/v1/jobs", json={"model": MODEL, "messages": prompt(40)})
    job = await final(paid, reply.json()["id"])

    assert (job["status"], job["node_id"]) == ("completed", large_id)
    assert len(small.requests) == 1  # it counted 80 > 64 and said so
    assert (await final(paid, filler))["status"] == "completed"
    small_state = next(
        n for n in paid.control_plane.services.registry.all() if n.node_id != large_id
    )
    assert small_state.backend_healthy


async def test_models_show_the_contexts_they_are_served_with(paid: Harness) -> None:
    await paid.add_node(ScriptedBackend([MODEL], context_length=64))
    await paid.add_node(ScriptedBackend([MODEL], context_length=4096))
    async with paid.client() as api:
        native = (await api.get("/api/v1/models")).json()["models"][0]
        v1 = (await api.get("/v1/models")).json()["data"][0]
    assert (native["context_length"], native["context_lengths"]) == (4096, [64, 4096])
    assert v1["max_model_len"] == 4096


async def test_a_tokenizer_that_joins_words_loses_the_word_bound(paid: Harness) -> None:
    # This engine's tokens span two words each: 100 words are 50 tokens, and fit in 64.
    engine = ScriptedBackend([MODEL], context_length=64, tokens_per_word=0.5)
    await paid.add_node(engine)
    async with paid.client() as api:
        before = await api.post("/api/v1/jobs", json={"model": MODEL, "messages": prompt(100)})
        calibrating = await api.post("/api/v1/jobs", json={"model": MODEL, "messages": prompt(40)})
        assert (await final(paid, calibrating.json()["id"]))["status"] == "completed"
        after = await api.post("/api/v1/jobs", json={"model": MODEL, "messages": prompt(100)})
    assert before.status_code == 400  # the bound said 100 tokens at least: wrong here
    assert after.status_code == 202  # the engine's count of 20 for 40 words showed it
    assert (await final(paid, after.json()["id"]))["status"] == "completed"


async def test_a_refusal_counting_more_than_the_prompt_can_hold_is_an_offence(
    paid: Harness,
) -> None:
    # This node claims 1,000 tokens a word: 40 words can hold at most some 280.
    rogue = ScriptedBackend([MODEL], context_length=64, tokens_per_word=1000)
    honest = ScriptedBackend([MODEL], context_length=4096, delay_s=0.1)
    await paid.add_node(rogue)
    await paid.add_node(honest)
    honest_id = paid.nodes[1].daemon.node_id if paid.nodes[1].daemon else None
    async with paid.client() as api:
        busy = {"model": MODEL, "messages": prompt(1), "node_id": honest_id}
        await api.post("/api/v1/jobs", json=busy)
        reply = await api.post("/api/v1/jobs", json={"model": MODEL, "messages": prompt(40)})
    job = await final(paid, reply.json()["id"])

    assert (job["status"], job["node_id"]) == ("completed", honest_id)
    assert len(rogue.requests) == 1
    offenders = {n.node_id: n.offences for n in paid.control_plane.services.registry.all()}
    assert offenders[honest_id] == 0 and sorted(offenders.values()) == [0, 1]
