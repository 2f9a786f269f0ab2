"""Settings, fees and node answers: the parts of EVM settlement that need no chain."""

from __future__ import annotations

import pytest

from infernet.settlement.errors import SettlementConfigError
from infernet.settlement.evm.config import GWEI, PRESETS, EvmSettings
from infernet.settlement.evm.fees import FeeCapped, FeePlan, bump, plan
from infernet.settlement.evm.rpc import Fees, SendOutcome, classify
from tests.settlement.chain import TestChain
from tests.settlement.conftest import settlement
from tests.settlement.db_store import StoreUnderTest


def test_base_is_the_preset_and_other_chains_are_configuration() -> None:
    base = EvmSettings.for_chain("base", "https://rpc.example")
    assert (base.chain_id, base.usdc_address) == (8453, PRESETS["base"].usdc_address)
    polygon = EvmSettings.for_chain("polygon", "https://rpc.example", confirmations=200)
    assert (polygon.chain_id, polygon.confirmations) == (137, 200)
    assert {"base", "ethereum", "polygon", "arbitrum"} == set(PRESETS)
    with pytest.raises(SettlementConfigError, match="supported: base, ethereum"):
        EvmSettings.for_chain("solana", "https://rpc.example")


def test_fees_are_estimated_with_a_margin_and_capped() -> None:
    settings = EvmSettings.for_chain("base", "x", max_fee_per_gas=10 * GWEI)
    chosen = plan(50_000, Fees(base_fee=GWEI, priority_fee=GWEI // 10), settings)
    assert chosen == FeePlan(60_001, 2 * GWEI + GWEI // 10, GWEI // 10)
    with pytest.raises(FeeCapped, match="above the cap of 10 gwei"):
        plan(50_000, Fees(base_fee=11 * GWEI, priority_fee=0), settings)
    with pytest.raises(FeeCapped, match="max_gas"):
        plan(settings.max_gas + 1, Fees(GWEI, 0), settings)


def test_a_replacement_pays_at_least_an_eighth_more_within_the_cap() -> None:
    settings = EvmSettings.for_chain("base", "x", max_fee_per_gas=10 * GWEI)
    first = FeePlan(60_000, 2 * GWEI, GWEI // 10)
    second = bump(first, Fees(GWEI, GWEI // 10), settings)
    assert second.max_fee >= first.max_fee * 9 // 8 and second.priority_fee > first.priority_fee
    assert bump(FeePlan(60_000, 10, 0), Fees(0, 0), settings).priority_fee == 1
    with pytest.raises(FeeCapped, match="replacement needs"):
        bump(FeePlan(60_000, 9 * GWEI, GWEI), Fees(GWEI, GWEI), settings)


@pytest.mark.parametrize(
    ("message", "outcome"),
    [
        ("already known", SendOutcome.KNOWN),
        ("nonce too low: next nonce 4, tx nonce 3", SendOutcome.NONCE_USED),
        ("replacement transaction underpriced", SendOutcome.UNDERPRICED),
        ("insufficient funds for gas * price + value", SendOutcome.NO_GAS_FUNDS),
        ("intrinsic gas too low", SendOutcome.REJECTED),
    ],
)
def test_node_refusals_are_read_as_geth_words_them(message: str, outcome: SendOutcome) -> None:
    assert classify(f"{{'code': -32000, 'message': '{message}'}}") is outcome


async def test_an_endpoint_of_another_chain_is_refused_at_start(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings
) -> None:
    with pytest.raises(SettlementConfigError, match="serves chain id"):
        await settlement(chain, store, settings, chain_id=8453).start()
    await settlement(chain, store, settings).check_chain()  # the right chain and a 6-decimal token
