"""`infernet train run --open-market` end to end on this machine: a control plane and
three node daemons that accept training train one run to the end. Each node trains one
shard for real (TRL + PEFT on the CPU, the bundled SmolLM2-135M, a few steps) in its own
process; the control plane's verifier reproduces each reported loss and pays each node
its share with a countersigned receipt; the submitter merges the three adapters (FedAvg)
into checkpoint-final, from which `infernet publish` makes a GGUF as after a local run.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from infernet.controlplane.money import ledger as accounts
from infernet.localnet import LOCAL_DEMO_CREDIT
from infernet.protocol.keys import verify_schnorr
from infernet.protocol.training import TrainingReceipt
from tests.support.harness import running
from tests.train.conftest import infernet, make_run, needs_train_extra, zorblax_lines
from tests.train.market_net import (
    earnings,
    job_state,
    market_settings,
    one_thread_per_trainer,
    submit,
    submitted_job,
    training_node,
)

pytestmark = pytest.mark.timeout(1800)  # three real fine-tunes and their verification, on CPU

SHARD_LINES, NODES = 6, 3


@dataclass
class Market:
    run: Path
    submitter: subprocess.CompletedProcess[str]
    job: dict[str, Any]
    node_ids: list[str]
    earned: dict[str, Decimal]
    balances: dict[str, Decimal]
    platform_key: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def market(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Market]:
    needs_train_extra()
    home = tmp_path_factory.mktemp("market")
    run = make_run(
        home, zorblax_lines(SHARD_LINES * NODES), max_steps=3, batch_size=2,
        learning_rate=0.005, max_seq_len=256,
    )  # fmt: skip
    settings = market_settings(home, training_claim_ttl_s=10.0)
    with one_thread_per_trainer():
        async with running(home, settings) as net:
            nodes = [training_node(net) for _ in range(NODES)]
            done = await submit(net, run, "--budget", "3", "--max-nodes", str(NODES))
            job = await job_state(net, await submitted_job(net, run))
            payments = net.control_plane.services.payments
            assert payments is not None
            account = str(await _account(net))
            balances = await payments.ledger.balances(
                [
                    accounts.client_available(account),
                    accounts.client_held(account),
                    accounts.PLATFORM_FEES,
                ]
            )
            earned = {str(n.node_id): await earnings(net, n) for n in nodes}
            yield Market(
                run, done, job, [str(n.node_id) for n in nodes], earned,
                {k.split(":")[-1]: v for k, v in balances.items()},
                payments.platform_key.public_hex,
            )  # fmt: skip


async def _account(net: Any) -> str:
    from infernet.controlplane.store.accounts import account_for_key

    account = await account_for_key(net.control_plane.services.db, net.api_key)
    assert account is not None
    return str(account)


def accepted_claims(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for s in job["shards"] for c in s["claims"] if c["status"] == "accepted"]


def test_three_nodes_train_the_run_to_the_end(market: Market) -> None:
    assert market.submitter.returncode == 0, market.submitter.stdout + market.submitter.stderr
    assert f"done: {NODES} of {NODES} shards" in market.submitter.stdout
    assert market.job["status"] == "done"
    claims = accepted_claims(market.job)
    assert sorted(c["node_id"] for c in claims) == sorted(market.node_ids)  # one shard each
    for claim in claims:
        # The verifier measured what the node reported, and the adapter helped.
        assert claim["verified_before"] == pytest.approx(claim["loss_before"], rel=0.05)
        assert claim["verified_after"] == pytest.approx(claim["loss_after"], rel=0.05)
        assert claim["verified_after"] < claim["verified_before"]


def test_each_node_is_paid_its_share_with_a_countersigned_receipt(market: Market) -> None:
    assert market.earned == {node: Decimal("0.85") for node in market.node_ids}
    assert market.balances["fees"] == Decimal("0.45")
    assert market.balances["held"] == 0  # the escrow is spent, none left held
    assert market.balances["available"] == Decimal(LOCAL_DEMO_CREDIT) - 3
    for claim in accepted_claims(market.job):
        receipt = TrainingReceipt.model_validate(claim["receipt"])
        assert receipt.value_usdc == "1" and receipt.adapter_sha256 == claim["adapter_sha256"]
        assert receipt.platform_signature is not None
        digest = receipt.unsigned().digest()
        assert verify_schnorr(
            market.platform_key, digest, bytes.fromhex(receipt.platform_signature)
        )


def test_checkpoint_final_is_the_fedavg_of_the_accepted_adapters(market: Market) -> None:
    final = market.run / "checkpoint-final"
    adapter = json.loads((final / "adapter_config.json").read_text())
    assert adapter["r"] == 8 * NODES and adapter["lora_alpha"] == 32 * NODES
    assert (final / "adapter_model.safetensors").is_file() and (final / "tokenizer.json").is_file()
    for position in range(NODES):
        assert (market.run / "shards" / f"shard-{position}" / "adapter_model.safetensors").is_file()
    lines = [json.loads(x) for x in (market.run / "metrics.jsonl").read_text().splitlines()]
    assert sorted(x["shard"] for x in lines) == list(range(NODES))
    assert all(x["eval_loss_after"] < x["eval_loss_before"] for x in lines)
    readme = (market.run / "README.md").read_text()
    assert f"{NODES} of {NODES} shards accepted" in readme and "FedAvg" in readme
    frozen = yaml.safe_load((market.run / "infernet.train.frozen.yml").read_text())
    assert frozen["resolved"]["market"]["job_id"] == market.job["id"]


def test_publish_makes_a_gguf_of_the_merged_result(market: Market) -> None:
    done = infernet("publish", str(market.run), "--skip-hf", "--skip-ollama")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (market.run / "publish" / "run.q4_k_m.gguf").is_file()
