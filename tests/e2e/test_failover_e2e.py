"""A node dies mid-answer on real llama.cpp; another node finishes the same answer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from infernet.backends.engine_process import free_port
from infernet.backends.llamacpp import LlamaCppBackend
from infernet.engine.launch import start_engine
from infernet.localnet import LocalNode
from tests.e2e.conftest import start_network

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="function")]

QUESTION = [{"role": "user", "content": "Count from one to ten in words."}]


async def test_the_client_gets_the_uninterrupted_answer_despite_losing_its_node(
    tmp_path: Path,
) -> None:
    net = await start_network(tmp_path / "net")
    spare_engine = start_engine(net.model_path, free_port(), tmp_path / "spare.log")
    await spare_engine.wait_ready()
    spare: LocalNode | None = None
    body = {
        "model": net.model_name,
        "messages": QUESTION,
        "max_tokens": 60,
        "temperature": 0.0,
        "seed": 7,
    }
    try:
        async with httpx.AsyncClient(base_url=spare_engine.url, timeout=120) as engine:
            direct = (await engine.post("/v1/chat/completions", json=body)).json()
        texts: list[str] = []
        headers = {"Authorization": f"Bearer {net.api_key}"}
        async with httpx.AsyncClient(base_url=net.url, headers=headers, timeout=120) as api:
            async with api.stream("POST", "/api/v1/jobs", json={**body, "stream": True}) as resp:
                async for line in resp.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    assert line != "data: [DONE]" or texts
                    if line == "data: [DONE]":
                        break
                    event = json.loads(line[6:])
                    assert "error" not in event, event
                    texts.append(event["text"])
                    if len(texts) == 5:
                        spare = LocalNode(
                            tmp_path / "spare-node",
                            net.url,
                            LlamaCppBackend(spare_engine.url),
                            served_models=[net.model_name],
                            heartbeat_interval_s=1.0,
                        )
                        spare.start()
                        assert net.control_plane is not None and net.node is not None
                        await net.control_plane.wait_serving(net.model_name, 2)
                        await net.node.stop()  # the first node goes away mid-answer
            job = (await api.get("/api/v1/jobs", params={"limit": 1})).json()["jobs"][0]
        assert "".join(texts) == direct["choices"][0]["message"]["content"]
        assert job["status"] == "completed" and job["node_id"] == spare.node_id  # type: ignore[union-attr]
    finally:
        if spare is not None:
            await spare.stop()
        await net.stop()
        await asyncio.to_thread(spare_engine.stop)
