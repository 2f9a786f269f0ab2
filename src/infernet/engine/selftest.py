"""A one-token self-test of the embedded llama.cpp engine, for `infernet doctor`.

It starts the engine on the bundled SmolLM2 exactly as `infernet up` does (its own port,
its own log file), asks for one token, and stops it. A build that uses instructions this
CPU does not run crashes here, at the first answer, as it would under `infernet up`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from infernet.backends.engine_process import EngineProcess, free_port
from infernet.backends.errors import EngineStartFailed
from infernet.engine.launch import ENGINE_TITLE, find_smollm2, start_engine

PROMPT = [{"role": "user", "content": "Say OK."}]


@dataclass(frozen=True, slots=True)
class SelfTest:
    ok: bool
    detail: str


async def self_test(
    log_path: Path, model: Path | None = None, timeout_s: float = 120.0
) -> SelfTest:
    """Start the engine, ask for one token, stop it; what happened, with the log's path."""
    with contextlib.suppress(FileNotFoundError):
        log_path.unlink()  # this run's lines only
    started = time.monotonic()
    engine = start_engine(model or find_smollm2(), free_port(), log_path)
    try:
        await engine.wait_ready(timeout_s)
        return await _one_token(engine, timeout_s, started)
    except EngineStartFailed as exc:
        return SelfTest(False, str(exc))
    finally:
        await asyncio.to_thread(engine.stop, 10.0)


async def _one_token(engine: EngineProcess, timeout_s: float, started: float) -> SelfTest:
    body = {"messages": PROMPT, "max_tokens": 1, "temperature": 0.0}
    try:
        async with httpx.AsyncClient(base_url=engine.url, timeout=timeout_s) as client:
            response = await client.post("/v1/chat/completions", json=body)
    except httpx.HTTPError as exc:
        if await engine.wait_exit(2.0) is not None:
            return SelfTest(False, engine.crash_report("while answering"))
        return SelfTest(
            False, f"{ENGINE_TITLE} did not answer: {exc!r}; log file: {engine.log_path}"
        )
    if response.status_code != 200:
        return SelfTest(
            False,
            f"{ENGINE_TITLE} answered HTTP {response.status_code}: {response.text[:300]}; "
            f"log file: {engine.log_path}",
        )
    usage = response.json().get("usage", {})
    took = time.monotonic() - started
    return SelfTest(
        True,
        f"answered {usage.get('completion_tokens', '?')} token in {took:.1f} s "
        f"(start included; log file: {engine.log_path})",
    )
