"""The baseline every end-to-end test compares against: llama.cpp asked directly."""

from __future__ import annotations

from typing import Any

import httpx

from infernet.localnet import LocalNetwork


async def direct_answer(net: LocalNetwork, body: dict[str, Any]) -> dict[str, Any]:
    """The same request sent straight to llama.cpp, bypassing Infernet."""
    assert net.engine is not None
    async with httpx.AsyncClient(base_url=net.engine.url, timeout=120) as engine:
        response = await engine.post("/v1/chat/completions", json={**body, "stream": False})
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer
