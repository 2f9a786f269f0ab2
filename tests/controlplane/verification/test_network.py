"""Verification in a running network: a hidden check goes the ordinary way to a node
and is verified; a dishonest node is penalized in routing and its earnings for the
failed job are withheld; an honest node passes; a client's finished job is spot-checked
in the background; the owner's view names the failed check, clients see a grade."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from pathlib import Path

import httpx

from infernet.backends.llamacpp import LlamaCppBackend
from infernet.controlplane.money.withholding import withheld
from infernet.controlplane.settings import Settings
from infernet.controlplane.store import verifications as store
from infernet.controlplane.verification.reputation import PENALTY_S
from infernet.controlplane.watchers.hidden_checks import HiddenChecks
from infernet.engine.launch import SMOLLM2_FILE
from tests.support.harness import running
from tests.support.scripted import ScriptedBackend


def _settings(tmp_path: Path, model: str, url: str, share: float = 0.05) -> Settings:
    return Settings(
        payments_enabled=True,
        platform_key_path=str(tmp_path / "platform.key"),
        verifier_urls={model: url},
        verify_share=share,
    )


async def test_a_node_answering_other_words_fails_a_hidden_check_is_penalized_and_unpaid(
    tmp_path: Path, engine_url: str
) -> None:
    async with running(tmp_path, _settings(tmp_path, "smollm", engine_url)) as harness:
        # It serves another model too, which has no verifier: the check goes to smollm.
        scripted = ScriptedBackend(["other", "smollm"], tokens=["I", " like", " turtles"])
        await harness.add_node(scripted, owner=harness.api_key)
        services = harness.control_plane.services
        assert services.verifications is not None
        hidden = HiddenChecks(services, services.verifications, 0.0, random.Random(2))
        assert await hidden.run_once()

        node_id = harness.nodes[0].node_id or ""
        [check] = await store.recent(services.db, node_id, 10)
        assert not check.passed and check.kind == "hidden" and check.detail
        assert check.model == "smollm"
        node = services.registry.get(node_id)
        assert node is not None and node.integrity_penalty_s == PENALTY_S
        assert services.payments is not None
        owner = await services.payments.accounting.owner_of(node_id)
        kept = await services.payments.ledger.balance(withheld(owner))
        assert kept > 0 and check.withheld_usdc == format(kept, "f")

        async with harness.client() as api:
            grade = (await api.get(f"/api/v1/nodes/{node_id}/grade")).json()
            mine = (await api.get(f"/api/v1/nodes/{node_id}/verifications")).json()
        assert grade == {"node_id": node_id, "grade": "new"}
        assert mine["failed"] == 1 and mine["penalty_s"] == PENALTY_S
        [seen] = mine["recent"]
        assert seen["checks"] == check.checks and seen["detail"] == check.detail
        assert "kind" not in seen and "messages" not in seen  # never which, nor the prompt

        async with httpx.AsyncClient(base_url=harness.url) as browser:
            await browser.post("/dashboard/sign-in", data={"api_key": harness.api_key})
            page = (await browser.get(f"/dashboard/nodes/{node_id}")).text
        assert "Verifications" in page and "0 of 1 verifications passed" in page
        assert f"{check.checks}, {check.withheld_usdc} USDC withheld" in page


async def test_an_honest_engine_passes_hidden_checks_and_client_jobs_are_spot_checked(
    tmp_path: Path, engine_url: str
) -> None:
    settings = _settings(tmp_path, SMOLLM2_FILE, engine_url, share=1.0)
    async with running(tmp_path, settings) as harness:
        await harness.add_node(LlamaCppBackend(engine_url))
        services = harness.control_plane.services
        assert services.verifications is not None
        node_id = harness.nodes[0].node_id or ""
        ask = [{"role": "user", "content": "Tell me a story about a lighthouse."}]
        job = {"model": SMOLLM2_FILE, "messages": ask, "max_tokens": 64}
        async with harness.client() as api:
            done = await api.post("/api/v1/jobs", json=job)
            assert done.status_code in (200, 201, 202), done.text
        for _ in range(200):  # the spot-check runs after the job, in the background
            if await store.recent(services.db, node_id, 10):
                break
            await asyncio.sleep(0.1)
        hidden = HiddenChecks(services, services.verifications, 0.0, random.Random(4))
        assert await hidden.run_once()
        checks = await store.recent(services.db, node_id, 10)
        assert [c.passed for c in checks] == [True, True], [c.detail for c in checks]
        assert {c.kind for c in checks} == {"hidden", "spot"}
        assert services.verifications.budget.spent > 0
        assert Decimal(0) == await services.payments.ledger.balance(withheld(node_id))  # type: ignore[union-attr]
