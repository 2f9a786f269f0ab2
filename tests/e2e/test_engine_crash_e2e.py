"""Real llama.cpp killed with SIGSEGV mid-answer (as an engine built for another CPU dies):
the failure names the signal and quotes the engine's log, the node restarts the engine and
says it is unavailable meanwhile, and the job finishes on another node.

(What a job does when no other node serves its model, the control plane's side, is in
tests/e2e/test_walking_skeleton.py: today it fails with the crash report.)"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from infernet.backends.base import ChatMessage, Finish, GenerationRequest, TokenDelta
from infernet.backends.engine_process import free_port
from infernet.backends.errors import EngineCrashed
from infernet.backends.llamacpp import LlamaCppBackend
from infernet.engine.launch import find_smollm2, start_engine
from infernet.engine.supervisor import EngineSupervisor, SupervisedBackend
from infernet.localnet import LocalNetwork, LocalNode
from infernet.protocol.wire import Heartbeat
from tests.e2e.conftest import start_network

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="function")]

STORY = (ChatMessage("user", "Write a very long story about the sea."),)
COUNT = [{"role": "user", "content": "Count from one to ten in words."}]


async def until(check: Callable[[], bool], timeout: float = 90) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


async def test_sigsegv_mid_answer_is_reported_as_a_crash_and_the_engine_comes_back(
    tmp_path: Path,
) -> None:
    log = tmp_path / "engine.log"
    model, port = find_smollm2(), free_port()
    supervisor = EngineSupervisor(lambda: start_engine(model, port, log))
    await supervisor.start()
    backend = SupervisedBackend(LlamaCppBackend(supervisor.url), supervisor)
    try:
        first = supervisor.process
        assert first is not None
        story = GenerationRequest(model.name, STORY, max_tokens=1500, temperature=0.0)
        killed = False
        with pytest.raises(EngineCrashed) as crashed:
            async for event in backend.generate(story):
                # Once, at its first tokens (one event may carry several, read together).
                if isinstance(event, TokenDelta) and not killed:
                    os.kill(first.pid, signal.SIGSEGV)
                    killed = True
        message = str(crashed.value)
        assert message.startswith(
            "the llama.cpp engine crashed (SIGSEGV) while answering; last lines of its log:\n"
        )
        assert "Fatal Python error: Segmentation fault" in message
        assert message.endswith(f"\nlog file: {log}")
        await until(lambda: supervisor.state == "running" and supervisor.process is not first)
        assert supervisor.process is not None and supervisor.process.running
        short = GenerationRequest(model.name, STORY, max_tokens=4, temperature=0.0)
        events = [event async for event in backend.generate(short)]
        assert isinstance(events[-1], Finish) and events[-1].usage.completion_tokens == 4
        assert (await backend.health()).ok
    finally:
        await backend.close()


def record_heartbeats(net: LocalNetwork) -> list[Heartbeat]:
    """Every heartbeat the network's node sends from now on (over HTTP or its channel)."""
    assert net.node is not None
    daemon, sent = net.node.daemon, []
    build = daemon.build_heartbeat

    async def recording() -> Heartbeat:
        beat = await build()
        sent.append(beat)
        return beat

    daemon.build_heartbeat = recording  # type: ignore[method-assign]
    return sent


async def test_a_job_whose_engine_crashes_fails_over_and_the_node_comes_back(
    tmp_path: Path,
) -> None:
    net = await start_network(tmp_path / "net")
    assert net.engine is not None and net.control_plane is not None
    heartbeats = record_heartbeats(net)
    spare_engine = start_engine(net.model_path, free_port(), tmp_path / "spare.log")
    spare: LocalNode | None = None
    body = {"model": net.model_name, "messages": COUNT, "max_tokens": 60, "temperature": 0.0}
    try:
        await spare_engine.wait_ready()
        async with httpx.AsyncClient(base_url=spare_engine.url, timeout=120) as engine:
            direct = (await engine.post("/v1/chat/completions", json=body)).json()
        crashed = net.engine.process
        assert crashed is not None
        texts: list[str] = []
        headers = {"Authorization": f"Bearer {net.api_key}"}
        async with (
            httpx.AsyncClient(base_url=net.url, headers=headers, timeout=120) as api,
            api.stream("POST", "/api/v1/jobs", json={**body, "stream": True}) as response,
        ):
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
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
                    await net.control_plane.wait_serving(net.model_name, 2)
                    os.kill(crashed.pid, signal.SIGSEGV)  # the first node's engine dies
            job = (await api.get("/api/v1/jobs", params={"limit": 1})).json()["jobs"][0]
        assert "".join(texts) == direct["choices"][0]["message"]["content"]
        assert job["status"] == "completed" and job["node_id"] == spare.node_id  # type: ignore[union-attr]
        await until(lambda: net.engine.state == "running" and net.engine.process is not crashed)  # type: ignore[union-attr]
        await net.control_plane.wait_serving(net.model_name, 2, timeout=90)
        down = [h for h in heartbeats if not h.backend_healthy]
        assert down, "no heartbeat said the engine was down"
        assert down[0].backend_detail == (
            "the llama.cpp engine crashed (SIGSEGV); restarting it (restart 1 of 4); "
            f"log file: {net.engine_log}"
        )
        assert heartbeats[-1].backend_healthy
    finally:
        if spare is not None:
            await spare.stop()
        await net.stop()
        await asyncio.to_thread(spare_engine.stop)
