"""A real llama.cpp engine serving SmolLM2: the verifier the tests check answers with."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from infernet.backends.engine_process import free_port
from infernet.engine.launch import find_smollm2, start_engine


@pytest.fixture(scope="module")
def engine_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log: Path = tmp_path_factory.mktemp("engine") / "engine.log"
    engine = start_engine(find_smollm2(), free_port(), log, threads=1)
    try:
        asyncio.run(engine.wait_ready())
        yield engine.url
    finally:
        engine.stop()
