"""A whole network per test module: control plane + node + real llama.cpp (SmolLM2)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from infernet.backends.engine_process import free_port
from infernet.localnet import LocalNetwork

pytest.importorskip("llama_cpp", reason="the llama.cpp engine (llamacpp extra) is not installed")


async def start_network(home: Path) -> LocalNetwork:
    net = LocalNetwork(home, port=free_port(), engine_port=free_port(), heartbeat_interval_s=1.0)
    await net.start()
    return net


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def network(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalNetwork]:
    net = await start_network(tmp_path_factory.mktemp("net"))
    try:
        yield net
    finally:
        await net.stop()
