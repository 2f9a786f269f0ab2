"""The loop the network exists for, end to end on this machine (issue 22, README "Fine-tune"):

`train data` on a local site → `train init` → `train run --local` (a few steps) →
`publish --skip-hf --skip-ollama` to a GGUF → `infernet model install` of that GGUF on a
node → llama.cpp restarted on it, as an operator does → a chat through the network,
answered by the fine-tuned model (the same text llama.cpp gives directly for that file,
and not the base model's answer).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from infernet.backends.engine_process import EngineProcess, free_port
from infernet.backends.llamacpp import LlamaCppBackend
from infernet.controlplane.settings import Settings
from infernet.engine.launch import find_smollm2, start_engine
from infernet.localnet import ControlPlaneServer, LocalNode
from infernet.node.status_file import SYNC_SIGNAL
from tests.fakes.server import serve
from tests.train.conftest import infernet, needs_train_extra
from tests.train.site import create_site

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio, pytest.mark.timeout(900)]  # trains on CPU

NAME = "zorblax-guide"
QUESTION = "Tell me about The guild."  # a heading of the site: a training prompt


async def cli(*args: str, env: dict[str, str] | None = None) -> Any:
    done = await asyncio.to_thread(infernet, *args, env=env)
    assert done.returncode == 0, f"infernet {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


async def engine_answer(engine: EngineProcess) -> str:
    body = {
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": 48,
        "temperature": 0.0,
    }
    async with httpx.AsyncClient(base_url=engine.url, timeout=120) as client:
        response = await client.post("/v1/chat/completions", json=body)
    response.raise_for_status()
    return str(response.json()["choices"][0]["message"]["content"])


async def fine_tune(work: Path, site: str) -> Path:
    """data → init → run → publish; the GGUF."""
    data = work / "train.jsonl"
    await cli("train", "data", "--url", f"{site}/history", "--url", f"{site}/care", "-o", str(data))
    run = work / "run"
    await cli("train", "init", "--output", str(run), "--name", NAME, "--dataset", "../train.jsonl")
    config_path = run / "infernet.train.yml"
    config = yaml.safe_load(config_path.read_text())
    config["training"].update({"max_steps": 8, "batch_size": 2, "learning_rate": 0.002})
    config_path.write_text(yaml.safe_dump(config))
    await cli("train", "run", "--local", str(run))
    await cli("publish", str(run), "--skip-hf", "--skip-ollama")
    gguf = run / "publish" / f"{NAME}.q4_k_m.gguf"
    assert gguf.is_file()
    return gguf


async def test_crawl_train_publish_install_and_chat_through_the_network(tmp_path: Path) -> None:
    needs_train_extra()
    pytest.importorskip("llama_cpp", reason="the llamacpp extra is not installed")
    with serve(create_site()) as site:
        gguf = await fine_tune(tmp_path, site)

    models, port = tmp_path / "node" / "models", free_port()
    base_model = find_smollm2()
    engine = start_engine(base_model, port, tmp_path / "engine.log")
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cp.db'}",
        heartbeat_interval_s=1.0,
        payments_enabled=True,
    )
    control_plane = ControlPlaneServer(settings, free_port())
    node: LocalNode | None = None
    try:
        await engine.wait_ready()
        base_answer = await engine_answer(engine)
        await control_plane.start()
        key = await control_plane.create_client_key()
        node = LocalNode(
            tmp_path / "node",
            control_plane.url,
            LlamaCppBackend(engine.url, models_dir=models),
            served_models=[base_model.name],
            llamacpp_host=engine.url,
            llamacpp_models_dir=str(models),
            heartbeat_interval_s=1.0,
        )
        node.start()
        await control_plane.wait_serving(base_model.name)
        # The daemon runs in this process: it answers the CLI's sync signal, as `infernet start`.
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(SYNC_SIGNAL, node.daemon.request_sync)

        install = await cli("model", "install", str(gguf), "--config", str(node.config_path))
        assert "Control plane updated (sync heartbeat)." in install.stdout
        assert (models / gguf.name).is_file()
        served = json.loads(node.config_path.read_text())["served_models"]
        assert gguf.name in served

        # llama.cpp serves one model per server: the operator restarts it on the new file.
        await asyncio.to_thread(engine.stop)
        engine = start_engine(models / gguf.name, port, tmp_path / "engine2.log")
        await engine.wait_ready()
        # llama.cpp reuses a cached prompt and evaluates only its last token again: a
        # batch of a different shape, whose logits can differ in the last bits and, where
        # two tokens nearly tie, a greedy answer with them. Asked once first, the engine
        # answers the relayed request and the direct one below from the same cache.
        await engine_answer(engine)
        await control_plane.wait_serving(gguf.name)

        env = {"INFERNET_API_KEY": key, "INFERNET_CONTROL_PLANE_URL": control_plane.url}
        chat = await cli(
            "chat", QUESTION, "--model", gguf.name, "--temperature", "0", "--max-tokens", "48",
            "--json", env=env,
        )  # fmt: skip
        job = json.loads(chat.stdout)
        assert job["status"] == "completed"
        assert job["node_id"] == node.node_id
        answer = job["result"]["content"]
        assert answer == await engine_answer(engine)  # the fine-tuned file answered
        assert answer != base_answer  # and it is not what the base model says
    finally:
        asyncio.get_running_loop().remove_signal_handler(SYNC_SIGNAL)
        if node is not None:
            await node.stop()
        await control_plane.stop()
        await asyncio.to_thread(engine.stop)
