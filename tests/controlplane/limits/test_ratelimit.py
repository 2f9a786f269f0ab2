"""Per-key request limits: the limiter itself (on a hand-moved clock), and the headers and
429s clients see on the native API and on /v1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest
import pytest_asyncio

from infernet.controlplane.limits.rates import InMemoryRateLimiter, Limits
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_key_gets_its_per_minute_allowance_then_waits_for_the_next_minute() -> None:
    start = 16_667 * 60
    clock = Clock(start + 20.0)  # 20 s into a minute
    limiter = InMemoryRateLimiter(clock=clock)
    limits = Limits(per_minute=3, per_hour=100)
    decisions = [await limiter.hit("k", limits) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert all(d.limit == 3 and d.reset_at == start + 60 for d in decisions)
    assert decisions[-1].retry_after == 40
    assert decisions[-1].headers()["Retry-After"] == "40"
    clock.now = start + 60.0
    assert (await limiter.hit("k", limits)).allowed


async def test_refused_requests_do_not_count_against_the_key() -> None:
    clock = Clock(7200.0)
    limiter = InMemoryRateLimiter(clock=clock)
    limits = Limits(per_minute=1, per_hour=2)
    assert (await limiter.hit("k", limits)).allowed
    for _ in range(5):
        assert not (await limiter.hit("k", limits)).allowed
    clock.now += 60
    assert (await limiter.hit("k", limits)).allowed  # the hour counted 1, not 6
    clock.now += 60
    third = await limiter.hit("k", limits)
    assert not third.allowed and third.window_s == 3600


async def test_the_hour_window_decides_when_it_is_the_one_used_up() -> None:
    clock = Clock(7200.0)
    limiter = InMemoryRateLimiter(clock=clock)
    limits = Limits(per_minute=10, per_hour=2)
    await limiter.hit("k", limits)
    await limiter.hit("k", limits)
    refused = await limiter.hit("k", limits)
    assert not refused.allowed
    assert (refused.limit, refused.reset_at, refused.retry_after) == (2, 10800, 3600)
    assert refused.describe() == "2 requests per hour"


async def test_keys_are_counted_apart() -> None:
    limiter = InMemoryRateLimiter(clock=Clock(60.0))
    limits = Limits(per_minute=1, per_hour=10)
    assert (await limiter.hit("a", limits)).allowed
    assert (await limiter.hit("b", limits)).allowed
    assert not (await limiter.hit("a", limits)).allowed


async def test_windows_that_have_passed_are_forgotten() -> None:
    clock = Clock(60.0)
    limiter = InMemoryRateLimiter(clock=clock, prune_every=2)
    await limiter.hit("old", Limits(1, 1))
    clock.now += 3600
    await limiter.hit("new", Limits(1, 1))
    assert {key for key, _ in limiter._windows} == {"new"}


@pytest_asyncio.fixture
async def harness(tmp_path: Path, database_url: str | None) -> AsyncIterator[Harness]:
    """A control plane whose rate limits count on a stopped clock, 20 s into a minute: a
    test's requests all fall in one minute, however long they take."""
    clock = Clock(16_667 * 60 + 20.0)
    async with running(tmp_path, database_url=database_url, clock=clock) as h:
        yield h


async def limited_key(harness: Harness, per_minute: int) -> str:
    async with harness.client() as api:
        created = await api.post("/api/v1/keys", json={"requests_per_minute": per_minute})
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


async def test_every_client_response_carries_the_rate_limit_headers(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"]))
    key = await limited_key(harness, 5)
    body = {"model": "m:1b", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with harness.client(key) as api:
        ok = await api.get("/api/v1/models")
        missing = await api.get("/api/v1/jobs/job_nope")
        async with api.stream("POST", "/api/v1/jobs", json=body) as streamed:
            await streamed.aread()
        openai_models = await api.get("/v1/models")
    remaining = []
    for response in (ok, missing, streamed, openai_models):
        assert response.headers["X-RateLimit-Limit"] == "5"
        assert int(response.headers["X-RateLimit-Reset"]) > 0
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1]


async def test_a_used_up_key_gets_429_with_retry_after_in_the_books_envelope(
    harness: Harness,
) -> None:
    key = await limited_key(harness, 2)
    async with harness.client(key) as api:
        for _ in range(2):
            assert (await api.get("/api/v1/models")).status_code == 200
        refused = await api.get("/api/v1/models")
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert "2 requests per minute" in refused.json()["error_message"]
    assert refused.headers["Retry-After"] == "40"  # the rest of the stopped minute
    assert refused.headers["X-RateLimit-Remaining"] == "0"


async def test_other_keys_of_the_same_account_keep_their_own_allowance(harness: Harness) -> None:
    key = await limited_key(harness, 1)
    async with harness.client(key) as api:
        await api.get("/api/v1/models")
        assert (await api.get("/api/v1/models")).status_code == 429
    async with harness.client() as api:
        assert (await api.get("/api/v1/models")).status_code == 200


async def test_the_openai_sdk_sees_a_rate_limit_error(harness: Harness) -> None:
    key = await limited_key(harness, 1)
    client = openai.AsyncOpenAI(base_url=f"{harness.url}/v1", api_key=key, max_retries=0)
    await client.models.list()
    with pytest.raises(openai.RateLimitError) as caught:
        await client.models.list()
    assert caught.value.code == "rate_limited"
    assert caught.value.response.headers["Retry-After"]
