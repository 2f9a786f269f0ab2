"""Bad input across the client API: each mistake gets the right status and envelope (the
Book's on /api/v1, OpenAI's on /v1) with a message naming what is wrong, never a 500, and
no job is created (so nothing can be charged)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from infernet.controlplane.settings import Settings
from infernet.controlplane.store.tables import jobs
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend

MAX_BODY = 4096
SERVED = ["qwen2.5:7b", "qwen2.5:14b"]
OK_MESSAGES = [{"role": "user", "content": "hi"}]


@pytest_asyncio.fixture
async def net(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(tmp_path, Settings(max_body_bytes=MAX_BODY)) as h:
        await h.add_node(ScriptedBackend(list(SERVED)))
        yield h


async def job_rows(harness: Harness) -> int:
    async with harness.control_plane.services.db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(jobs))).scalar_one())


def native(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_message"} and body["error"] == code
    message: str = body["error_message"]
    return message


def openai_shaped(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"} and error["code"] == code
    message: str = error["message"]
    return message


def job(**fields: Any) -> dict[str, Any]:
    return {"model": "qwen2.5:7b", "messages": OK_MESSAGES, **fields}


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("missing model", {"messages": OK_MESSAGES}, "model: Field required"),
    ("missing messages", {"model": "qwen2.5:7b"}, "messages"),
    ("messages not a list", job(messages="hi"), "messages"),
    ("empty messages", job(messages=[]), "messages"),
    ("unknown role", job(messages=[{"role": "robot", "content": "x"}]), "messages.0.role"),
    ("content not text", job(messages=[{"role": "user", "content": 5}]), "content"),
    ("max_tokens a word", job(max_tokens="lots"), "max_tokens"),
    ("max_tokens zero", job(max_tokens=0), "max_tokens"),
    ("max_tokens negative", job(max_tokens=-5), "max_tokens"),
    ("max_tokens absurd", job(max_tokens=10**30), "max_tokens"),
    ("temperature too hot", job(temperature=9), "temperature"),
    ("temperature a word", job(temperature="hot"), "temperature"),
    ("top_p zero", job(top_p=0), "top_p"),
    ("stream not a bool", job(stream="maybe"), "stream"),
    ("unknown field", job(frobnicate=True), "frobnicate"),
    ("too many stops", job(stop=["a", "b", "c", "d", "e"]), "stop"),
    ("every message blank", job(messages=[{"role": "user", "content": "  "}]), "empty"),
]


@pytest.mark.parametrize(("case", "body", "named"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_a_bad_job_body_is_a_400_naming_the_problem(
    net: Harness, case: str, body: dict[str, Any], named: str
) -> None:
    async with net.client() as api:
        native_answer = await api.post("/api/v1/jobs", json=body)
        openai_answer = await api.post("/v1/chat/completions", json=body)
    assert named in native(native_answer, 400, "bad_request")
    assert named in openai_shaped(openai_answer, 400, "bad_request")
    assert await job_rows(net) == 0


@pytest.mark.parametrize(
    "raw",
    [b'{"model": "qwen2.5:7b", "messages": [', b"not json at all", b"\xff\xfe\x00garbage"],
    ids=["truncated", "not json", "not utf-8"],
)
async def test_a_body_that_is_not_json_is_a_400(net: Harness, raw: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    async with net.client() as api:
        answers = [
            await api.post(path, content=raw, headers=headers)
            for path in ("/api/v1/jobs", "/v1/chat/completions", "/v1/completions")
        ]
    assert "not valid JSON" in native(answers[0], 400, "bad_request")
    for answer in answers[1:]:
        openai_shaped(answer, 400, "bad_request")
    assert await job_rows(net) == 0


async def test_a_json_value_that_is_not_an_object_is_a_400(net: Harness) -> None:
    async with net.client() as api:
        answer = await api.post("/api/v1/jobs", json=["qwen2.5:7b"])
    native(answer, 400, "bad_request")


async def test_a_model_nobody_serves_is_a_404_listing_what_is_served(net: Harness) -> None:
    async with net.client() as api:
        native_answer = await api.post("/api/v1/jobs", json=job(model="llama3:8b"))
        openai_answer = await api.post("/v1/chat/completions", json=job(model="llama3:8b"))
        completion = await api.post("/v1/completions", json={"model": "x:1b", "prompt": "hi"})
    for message in (
        native(native_answer, 404, "model_not_found"),
        openai_shaped(openai_answer, 404, "model_not_found"),
        openai_shaped(completion, 404, "model_not_found"),
    ):
        assert all(name in message for name in SERVED)
    assert await job_rows(net) == 0


async def test_a_model_name_matching_several_served_models_is_a_400(net: Harness) -> None:
    async with net.client() as api:
        native_answer = await api.post("/api/v1/jobs", json=job(model="qwen2.5"))
        openai_answer = await api.post("/v1/chat/completions", json=job(model="qwen2.5"))
    assert "ambiguous" in native(native_answer, 400, "bad_request")
    assert "ambiguous" in openai_shaped(openai_answer, 400, "bad_request")
    assert await job_rows(net) == 0


async def test_max_tokens_above_the_control_planes_limit_is_a_400(net: Harness) -> None:
    async with net.client() as api:
        native_answer = await api.post("/api/v1/jobs", json=job(max_tokens=1_000_000))
        openai_answer = await api.post(
            "/v1/chat/completions", json=job(max_completion_tokens=1_000_000)
        )
    assert "more than the limit of 32768" in native(native_answer, 400, "bad_request")
    assert "max_completion_tokens" in openai_shaped(openai_answer, 400, "bad_request")
    assert await job_rows(net) == 0


async def test_an_oversize_body_is_a_413_before_anything_reads_it(net: Harness) -> None:
    huge = job(messages=[{"role": "user", "content": "x" * (MAX_BODY * 2)}])
    async with net.client() as api:
        native_answer = await api.post("/api/v1/jobs", json=huge)
        openai_answer = await api.post("/v1/chat/completions", json=huge)
    assert f"{MAX_BODY:,} bytes" in native(native_answer, 413, "payload_too_large")
    openai_shaped(openai_answer, 413, "payload_too_large")
    assert await job_rows(net) == 0


async def test_an_oversize_body_sent_without_a_length_is_cut_off_at_the_limit(
    net: Harness,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"model": "qwen2.5:7b", "messages": [{"role": "user", "content": "'
        for _ in range(MAX_BODY // 512 + 2):
            yield b"x" * 512
        yield b'"}]}'

    headers = {"Content-Type": "application/json"}
    async with net.client() as api:
        answer = await api.post("/api/v1/jobs", content=chunks(), headers=headers)
    assert "content-length" not in answer.request.headers  # chunked: counted as it streams
    native(answer, 413, "payload_too_large")
    assert await job_rows(net) == 0


@pytest.mark.parametrize(
    "query",
    [
        {"since": "yesterday"},
        {"since": "2026-13-45T99:00:00Z"},
        {"status": "cancelled"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
    ],
    ids=lambda q: "=".join(*q.items()),
)
async def test_bad_job_list_filters_are_a_400_naming_the_parameter(
    net: Harness, query: dict[str, str]
) -> None:
    async with net.client() as api:
        answer = await api.get("/api/v1/jobs", params=query)
    (name,) = query
    assert name in native(answer, 400, "bad_request")


async def test_a_good_request_still_works_next_to_all_this(net: Harness) -> None:
    async with net.client() as api:
        answer = await api.post("/v1/chat/completions", json=job())
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"]
    assert await job_rows(net) == 1


async def test_the_openapi_document_shows_each_client_route_with_its_errors(net: Harness) -> None:
    async with net.client() as api:
        spec = (await api.get("/openapi.json")).json()
        docs = await api.get("/docs")
    assert docs.status_code == 200
    client_routes = {
        ("post", "/api/v1/jobs"): {"400", "401", "404", "413", "429", "503"},
        ("get", "/api/v1/jobs"): {"400", "401", "429"},
        ("post", "/v1/chat/completions"): {"400", "401", "404", "413", "429", "502"},
        ("post", "/v1/completions"): {"400", "401", "404", "429"},
        ("get", "/v1/models"): {"401", "429"},
        ("post", "/api/v1/keys"): {"400", "401", "429"},
        ("delete", "/api/v1/keys/{key_id}"): {"401", "404"},
    }
    for (method, path), statuses in client_routes.items():
        responses = spec["paths"][path][method]["responses"]
        assert statuses <= set(responses), (method, path)
        assert "422" not in responses  # invalid input is answered with 400, and documented so
    envelope = spec["paths"]["/api/v1/jobs"]["post"]["responses"]["404"]
    assert envelope["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorEnvelope")
