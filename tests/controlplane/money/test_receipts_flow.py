"""Money through the real job flow (real node daemons on scripted engines): a completed
job leaves exactly one countersigned receipt that verifies offline with public keys
alone, and charges the client what it says; a failed job costs nothing; a client below
the $1.00 minimum gets 402 and no job; prices show in /models and operators set them."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from infernet.controlplane.jobs.manager import JobManager
from infernet.controlplane.settings import Settings
from infernet.localnet import LOCAL_DEMO_CREDIT
from infernet.protocol.keys import NodeKey
from infernet.protocol.money import job_value, usdc
from infernet.protocol.receipts import Receipt, canonical_hash, verify
from infernet.protocol.signing import sign_request
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend

MESSAGES = [{"role": "user", "content": "capital of France?"}]
# The node can sign a receipt only when the job manager sends the node's quote with the
# job (JobManager._start -> Accounting.quote); until that lands these tests must fail.
SENDS_QUOTES = ".quote(" in inspect.getsource(JobManager)
needs_quotes = pytest.mark.xfail(
    not SENDS_QUOTES, strict=True, reason="JobManager._start does not send Accounting.quote yet"
)


@pytest_asyncio.fixture
async def paid(tmp_path: Path, database_url: str | None) -> AsyncIterator[Harness]:
    settings = Settings(
        payments_enabled=True,
        platform_key_path=str(tmp_path / "platform.key"),
        open_deposits=True,  # clients credit themselves, as on `infernet up`
    )
    async with running(tmp_path, settings, database_url) as harness:
        yield harness


async def run_job(
    harness: Harness, api_key: str | None = None, wait_for_receipt: bool = True
) -> dict[str, object]:
    async with harness.client(api_key) as api:
        submitted = await api.post("/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES})
        assert submitted.status_code == 202, submitted.text
        for _ in range(200):
            job: dict[str, object] = (
                await api.get(f"/api/v1/jobs/{submitted.json()['id']}")
            ).json()
            # Settlement (and so the receipt) follows the completed status by a moment.
            if (
                job["status"] == "failed"
                or job["receipt_ids"]
                or (job["status"] == "completed" and not wait_for_receipt)
            ):
                return job
            await asyncio.sleep(0.05)
    raise AssertionError("job never finished")


async def balance(harness: Harness, api_key: str | None = None) -> dict[str, str]:
    async with harness.client(api_key) as api:
        reply = await api.get("/api/v1/billing/balance")
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


@needs_quotes
async def test_a_completed_job_has_one_countersigned_receipt_verifiable_offline(
    paid: Harness,
) -> None:
    backend = ScriptedBackend(["m:1b"])
    await paid.add_node(backend)
    job = await run_job(paid)
    assert job["status"] == "completed" and len(job["receipt_ids"]) == 1  # type: ignore[arg-type]
    async with paid.client() as api:
        cpr = (await api.get(f"/api/v1/cprs/{job['receipt_ids'][0]}")).json()  # type: ignore[index]
        platform = (await api.get("/api/v1/platform-key")).json()["public_key"]
    receipt = Receipt.model_validate({k: cpr[k] for k in Receipt.model_fields})
    result = verify(receipt, paid.nodes[0].key.public_hex, platform)
    assert result.ok, result.failures
    usage = job["result"]["usage"]  # type: ignore[index]
    assert (receipt.input_tokens, receipt.output_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert cpr["usage_source"] == "backend" and cpr["status"] == "countersigned"
    after = await balance(paid)
    assert usdc(after["available"]) == usdc(LOCAL_DEMO_CREDIT) - usdc(receipt.value_usdc)
    assert usdc(after["held"]) == 0


@needs_quotes
async def test_the_receipt_is_charged_at_the_operators_price(paid: Harness) -> None:
    node = await paid.add_node(ScriptedBackend(["m:1b"]))
    body = b'{"model":"m:1b","input_per_1k":"0.01","output_per_1k":"0.04"}'
    headers = {
        "content-type": "application/json",
        **sign_request(node.key, "PUT", "/api/v1/nodes/me/prices", body),
    }
    async with paid.client("") as anonymous:
        reply = await anonymous.put("/api/v1/nodes/me/prices", content=body, headers=headers)
    assert reply.status_code == 200, reply.text
    job = await run_job(paid)
    usage = job["result"]["usage"]  # type: ignore[index]
    async with paid.client() as api:
        cpr = (await api.get(f"/api/v1/cprs/{job['receipt_ids'][0]}")).json()  # type: ignore[index]
        models = (await api.get("/api/v1/models")).json()["models"]
    expected = job_value(
        usage["prompt_tokens"], usage["completion_tokens"], usdc("0.01"), usdc("0.04")
    )
    assert usdc(cpr["value_usdc"]) == expected
    assert models[0]["price_output_per_1k"] == "0.040000"


@needs_quotes
async def test_a_client_can_add_its_own_signature_so_all_three_parties_verify(
    paid: Harness,
) -> None:
    client_key = NodeKey.generate()
    await paid.add_node(ScriptedBackend(["m:1b"]))
    async with paid.client() as api:
        reply = await api.put("/api/v1/billing/client-key", json={"public_key": client_key.npub})
        assert reply.status_code == 200
    job = await run_job(paid)
    receipt_id = job["receipt_ids"][0]  # type: ignore[index]
    async with paid.client() as api:
        cpr = (await api.get(f"/api/v1/cprs/{receipt_id}")).json()
        receipt = Receipt.model_validate({k: cpr[k] for k in Receipt.model_fields})
        forged = await api.post(
            f"/api/v1/cprs/{receipt_id}/sign",
            json={"signature": NodeKey.generate().sign(canonical_hash(receipt)).hex()},
        )
        signed = await api.post(
            f"/api/v1/cprs/{receipt_id}/sign",
            json={"signature": client_key.sign(canonical_hash(receipt)).hex()},
        )
    assert forged.status_code == 400
    assert signed.status_code == 200, signed.text
    bundle = Receipt.model_validate({k: signed.json()[k] for k in Receipt.model_fields})
    result = verify(
        bundle, paid.nodes[0].key.public_hex, cpr["platform_pubkey"], client_key.public_hex
    )
    assert result.ok and [c.name for c in result.checks][-1] == "client_signature"


async def test_a_failed_job_costs_nothing_and_has_no_receipt(paid: Harness) -> None:
    await paid.add_node(ScriptedBackend(["m:1b"], fail_after=2))
    job = await run_job(paid)
    assert job["status"] == "failed" and job["receipt_ids"] == []
    for _ in range(100):  # the hold is released a moment after the failed status is stored
        after = await balance(paid)
        if usdc(after["held"]) == 0:
            break
        await asyncio.sleep(0.02)
    assert (usdc(after["available"]), usdc(after["held"])) == (usdc(LOCAL_DEMO_CREDIT), 0)


async def test_a_client_below_one_dollar_gets_402_and_no_job(paid: Harness) -> None:
    await paid.add_node(ScriptedBackend(["m:1b"]))
    poor = await paid.control_plane.create_client_key("poor", credit="0.50")
    async with paid.client(poor) as api:
        reply = await api.post("/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES})
        jobs = (await api.get("/api/v1/jobs")).json()["jobs"]
    assert reply.status_code == 402
    assert reply.json()["error"] == "insufficient_funds"
    assert "POST /api/v1/billing/deposits" in reply.json()["error_message"]
    assert jobs == []


async def test_a_deposit_is_a_ledger_only_credit_and_says_so(paid: Harness) -> None:
    poor = await paid.control_plane.create_client_key("poor", credit="0")
    async with paid.client(poor) as api:
        reply = await api.post("/api/v1/billing/deposits", json={"amount": "2.50"})
        bad = await api.post("/api/v1/billing/deposits", json={"amount": "0.0000001"})
        entries = (await api.get("/api/v1/ledger")).json()["entries"]
    assert reply.status_code == 201
    assert reply.json()["settlement"] == "ledger-only"
    assert "no chain is reachable" in reply.json()["message"]
    assert reply.json()["balance"]["available"] == "2.500000"
    assert bad.status_code == 400
    assert [e["amount"] for e in entries] == ["2.500000"]


async def test_models_show_the_lowest_price(paid: Harness) -> None:
    await paid.add_node(ScriptedBackend(["m:1b"]))
    async with paid.client() as api:
        model = (await api.get("/api/v1/models")).json()["models"][0]
    assert (model["price_input_per_1k"], model["price_output_per_1k"]) == ("0.000250", "0.001000")


async def test_only_the_owner_sets_a_nodes_prices(paid: Harness) -> None:
    node = await paid.add_node(ScriptedBackend(["m:1b"]))
    async with paid.client() as api:
        reply = await api.put(
            f"/api/v1/nodes/{node.node_id}/prices",
            json={"model": "m:1b", "input_per_1k": "0", "output_per_1k": "1"},
        )
    assert reply.status_code == 403


async def test_without_payments_jobs_run_free_and_money_routes_say_so(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"]))
    job = await run_job(harness, wait_for_receipt=False)
    async with harness.client() as api:
        reply = await api.get("/api/v1/billing/balance")
    assert job["status"] == "completed" and job["receipt_ids"] == []
    assert reply.status_code == 404 and "PAYMENTS_ENABLED=false" in reply.json()["error_message"]
