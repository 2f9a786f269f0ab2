"""A training job's money: the budget is held at submit; an accepted shard is paid once
(85 % to the node's owner, 15 % to the platform) with a receipt the platform
countersigns, however often acceptance is attempted; the rest of the hold goes back at
the end. (Which shards get accepted is the verifier's, tested with real training.)"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.money.holds import close_open_holds
from infernet.controlplane.money.ledger import Extra
from infernet.controlplane.store import training as store
from infernet.controlplane.store import training_claims as claim_store
from infernet.controlplane.store.ids import utcnow
from infernet.protocol.keys import verify_schnorr
from infernet.protocol.training import (
    TrainingReceipt,
    TrainingReceiptFields,
    sign_training_receipt,
)
from tests.controlplane.training.conftest import attach, claim, job_state, shard_bytes, submit
from tests.support.harness import Harness

pytest.importorskip("trl", reason="the control plane takes training jobs with the train extra")


async def test_an_accepted_shard_is_paid_once_with_a_countersigned_receipt(
    market: Harness,
) -> None:
    services = market.control_plane.services
    assert services.payments is not None
    ledger = services.payments.ledger
    job = await submit(market, [shard_bytes(3), shard_bytes(3, 3)], budget="2.00")
    node = await attach(market)
    held = await claim(node, job["shards"][0]["id"])
    record = await store.get_job(services.db, job["id"])
    shard = await store.get_shard(services.db, held.shard_id)
    found = await claim_store.get_claim(services.db, held.claim_id)
    assert record is not None and shard is not None and found is not None
    receipt = sign_training_receipt(
        TrainingReceiptFields(
            job_id=held.job_id,
            shard_id=held.shard_id,
            claim_id=held.claim_id,
            node_pubkey=node.key.public_hex,
            adapter_sha256="ab" * 32,
            examples=held.examples,
            value_usdc=held.pay_usdc,
            completed_at="2026-01-01T00:00:00Z",
        ),
        node.key,
    )
    reported = dataclasses.replace(found, receipt=receipt.model_dump(mode="json"))

    def accept(signed: dict[str, Any] | None) -> Extra:
        async def write(conn: AsyncConnection) -> None:
            await claim_store.accept_claim(conn, reported, (3.0, 2.0), signed, utcnow())

        return write

    for _ in range(2):  # a second acceptance moves nothing
        await services.training.escrow.pay(record, shard, reported, accept)
    owner = accounts.earnings(str(node.node_id))  # no account owns this node
    client = str(record.account_id)
    balances = await ledger.balances([owner, accounts.PLATFORM_FEES, accounts.client_held(client)])
    assert balances == {
        owner: Decimal("0.85"),
        accounts.PLATFORM_FEES: Decimal("0.15"),
        accounts.client_held(client): Decimal("1.00"),
    }
    state = await job_state(market, job["id"])
    assert state["paid_usdc"] == "1.000000" and state["shards"][0]["status"] == "accepted"
    stored = TrainingReceipt.model_validate(state["shards"][0]["claims"][0]["receipt"])
    assert stored.platform_signature is not None
    platform = services.payments.platform_key.public_hex
    digest = stored.unsigned().digest()
    assert verify_schnorr(platform, digest, bytes.fromhex(stored.platform_signature))
    assert verify_schnorr(node.key.public_hex, digest, bytes.fromhex(stored.node_signature))

    # The recovery of inference holds a crash left open does not take a training budget.
    later = utcnow() + timedelta(hours=1)
    assert await close_open_holds(services.db, services.payments.accounting, later) == 0
    assert await ledger.balance(accounts.client_held(client)) == Decimal("1.00")

    available = await ledger.balance(accounts.client_available(client))
    await services.training.escrow.release(record)
    assert await ledger.balance(accounts.client_held(client)) == 0
    assert await ledger.balance(accounts.client_available(client)) == available + 1
