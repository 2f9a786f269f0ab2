"""End to end on loopback: client -> control plane -> node -> real llama.cpp and back."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from infernet.localnet import LocalNetwork
from tests.e2e.conftest import start_network
from tests.e2e.direct import direct_answer
from tests.e2e.sse import read_sse

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def client(net: LocalNetwork, key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key or net.api_key}"}
    return httpx.AsyncClient(base_url=net.url, headers=headers, timeout=120)


async def test_streamed_job_equals_llamacpp_answer_and_usage(network: LocalNetwork) -> None:
    body = {
        "model": network.model_name,
        "messages": QUESTION,
        "max_tokens": 48,
        "temperature": 0.0,
        "seed": 42,
    }
    async with client(network) as api:
        async with api.stream("POST", "/api/v1/jobs", json={**body, "stream": True}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            streamed = await read_sse(response)
        assert streamed.done and streamed.error is None
        assert len(streamed.texts) > 1, "tokens must arrive as they are produced"

        jobs = (await api.get("/api/v1/jobs", params={"limit": 1})).json()["jobs"]
        job = (await api.get(f"/api/v1/jobs/{jobs[0]['id']}")).json()

    direct = await direct_answer(network, body)
    assert streamed.text == direct["choices"][0]["message"]["content"]
    assert job["status"] == "completed"
    assert job["result"]["content"] == streamed.text
    assert job["result"]["usage"] == direct["usage"]
    assert job["result"]["usage"]["completion_tokens"] > 0
    assert job["node_id"] == network.daemon.node_id  # type: ignore[union-attr]
    assert job["latency_ms"] > 0


async def test_polled_job_goes_pending_to_completed(network: LocalNetwork) -> None:
    async with client(network) as api:
        created = await api.post(
            "/api/v1/jobs",
            json={"model": network.model_name, "messages": QUESTION, "max_tokens": 16},
        )
        assert created.status_code == 202
        job = created.json()
        assert job["status"] in ("pending", "processing")
        assert job["id"].startswith("job_") and job["model"] == network.model_name
        for _ in range(240):
            job = (await api.get(f"/api/v1/jobs/{job['id']}")).json()
            if job["status"] in ("completed", "failed"):
                break
            await asyncio.sleep(0.25)
    assert job["status"] == "completed", job
    assert job["result"]["usage"]["total_tokens"] == (
        job["result"]["usage"]["prompt_tokens"] + job["result"]["usage"]["completion_tokens"]
    )


async def test_stream_opened_late_replays_from_the_first_token(network: LocalNetwork) -> None:
    async with client(network) as api:
        created = (
            await api.post(
                "/api/v1/jobs",
                json={
                    "model": network.model_name,
                    "messages": QUESTION,
                    "max_tokens": 24,
                    "temperature": 0.0,
                },
            )
        ).json()
        async with api.stream("GET", f"/api/v1/jobs/{created['id']}/stream") as response:
            replay = await read_sse(response)
        job = (await api.get(f"/api/v1/jobs/{created['id']}")).json()
    assert replay.done
    assert replay.text == job["result"]["content"]


async def test_model_no_node_serves_is_refused_naming_the_served_models(
    network: LocalNetwork,
) -> None:
    async with client(network) as api:
        response = await api.post(
            "/api/v1/jobs", json={"model": "qwen2.5:72b", "messages": QUESTION}
        )
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "model_not_found"
    assert "qwen2.5:72b" in body["error_message"]
    assert network.model_name in body["error_message"]


async def test_requests_without_a_valid_key_are_unauthorized(network: LocalNetwork) -> None:
    async with httpx.AsyncClient(base_url=network.url) as anonymous:
        missing = await anonymous.get("/api/v1/models")
    async with client(network, key="inft_sk_not-a-real-key") as wrong:
        invalid = await wrong.get("/api/v1/models")
    assert missing.status_code == invalid.status_code == 401
    assert missing.json()["error"] == "unauthorized"
    assert invalid.json()["error_message"] == "Invalid or expired bearer token"


async def test_the_local_user_owns_the_local_node_and_may_add_demo_credit(
    network: LocalNetwork,
) -> None:
    """`infernet up` is a local demo: its account owns its node (commands, why no jobs)
    and may credit itself (elsewhere an admin action: tests/security/test_ownership.py)."""
    assert network.node is not None
    async with client(network) as api:
        mine = (await api.get("/api/v1/nodes")).json()["nodes"]
        status = (await api.get(f"/api/v1/nodes/{network.node.node_id}/status")).json()
        credit = await api.post("/api/v1/billing/deposits", json={"amount": "1.00"})
    assert [n["id"] for n in mine] == [network.node.node_id]
    assert status["why_no_jobs"] is not None
    assert credit.status_code == 201, credit.text


async def test_models_lists_what_online_nodes_serve(network: LocalNetwork) -> None:
    async with client(network) as api:
        models = (await api.get("/api/v1/models")).json()["models"]
    prices = {"price_input_per_1k": "0.000250", "price_output_per_1k": "0.001000"}
    context = {"context_length": 8192, "context_lengths": [8192]}  # SmolLM2's trained one
    # Measured once the node completed a job (earlier tests here may have run some).
    speed = {k: models[0].pop(k) for k in ("avg_tokens_per_second", "avg_ttft_ms")}
    assert all(v is None or v > 0 for v in speed.values())
    assert models == [
        {"id": network.model_name, "nodes": 1, "names": [network.model_name], **prices, **context}
    ]


async def test_cli_chat_answers_through_the_network(network: LocalNetwork) -> None:
    env = {
        **os.environ,
        "INFERNET_API_KEY": network.api_key,
        "INFERNET_CONTROL_PLANE_URL": network.url,
    }
    infernet = str(Path(sys.executable).with_name("infernet"))
    result = await asyncio.to_thread(
        subprocess.run,
        [
            infernet,
            "chat",
            "--stream",
            "--max-tokens",
            "24",
            "--temperature",
            "0",
            "What is the capital of France?",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    direct = await direct_answer(
        network,
        {"model": network.model_name, "messages": QUESTION, "max_tokens": 24, "temperature": 0.0},
    )
    assert result.stdout.strip() == direct["choices"][0]["message"]["content"].strip()


async def test_an_engine_that_dies_mid_answer_is_restarted_and_the_answer_goes_on(
    tmp_path: Path,
) -> None:
    """The only node's engine is killed after the first token: the node restarts it, the
    job waits for it (it is not failed, nor handed to a node that does not exist) and
    continues from what was delivered, so the client gets llama.cpp's whole answer once,
    never canned text and never an error."""
    net = await start_network(tmp_path)
    try:
        body = {
            "model": net.model_name,
            "stream": True,
            "max_tokens": 48,
            "temperature": 0.0,
            "messages": [{"role": "user", "content": "Write a short story about a lighthouse."}],
        }
        expected = (await direct_answer(net, body))["choices"][0]["message"]["content"]
        assert net.engine is not None
        killed = net.engine.process.pid
        texts: list[str] = []
        done = False
        async with (
            client(net) as api,
            api.stream("POST", "/api/v1/jobs", json=body) as response,
        ):
            async for line in response.aiter_lines():
                assert not line.startswith('data: {"error"'), line
                if line.startswith('data: {"text"'):
                    texts.append(json.loads(line[6:])["text"])
                    if len(texts) == 1:
                        os.kill(killed, signal.SIGKILL)  # the engine dies mid-answer
                done = done or line == "data: [DONE]"
        assert done and "".join(texts) == expected
        assert net.engine.process.pid != killed, "a new engine answered the rest"
    finally:
        await net.stop()
