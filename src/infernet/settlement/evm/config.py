"""EVM settlement settings: one chain per control plane, Base by default.

Each supported chain has a preset (chain id, native USDC contract, confirmations, fee
caps); any field can be overridden, e.g. a testnet's chain id and USDC address.

| chain    | id    | USDC (native, Circle)                      | confirmations | fee cap  |
|----------|-------|--------------------------------------------|---------------|----------|
| base     | 8453  | 0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913 | 12 (~24 s)    | 2 gwei   |
| ethereum | 1     | 0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48 | 12 (~2.5 min) | 150 gwei |
| polygon  | 137   | 0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359 | 64 (~2 min)   | 1500 gwei|
| arbitrum | 42161 | 0xaf88d065e77c8cC2239327C5EDb3A432268e5831 | 20 (~5 s)     | 2 gwei   |

Confirmations err on the side of waiting: a deposit is credited, and a payout counted as
done, only when its block has that many blocks on top (itself included). A deeper re-org
is still noticed and undone (watcher.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, field_validator

from infernet.protocol.chains import AddressError, chain, validate_evm
from infernet.settlement.errors import SettlementConfigError

GWEI = 10**9


@dataclass(frozen=True, slots=True)
class Preset:
    chain_id: int
    usdc_address: str
    confirmations: int
    max_fee_gwei: float
    max_priority_fee_gwei: float
    max_gas: int
    stuck_after_blocks: int


PRESETS: dict[str, Preset] = {
    "base": Preset(8453, "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", 12, 2, 0.5, 150_000, 30),
    "ethereum": Preset(1, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", 12, 150, 5, 150_000, 5),
    "polygon": Preset(
        137, "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", 64, 1500, 200, 150_000, 30
    ),
    # Arbitrum's gas limit also pays for L1 calldata, in L2 gas units: far above 21k-65k.
    "arbitrum": Preset(
        42161, "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", 20, 2, 0.1, 2_000_000, 240
    ),
}


class EvmSettings(BaseModel):
    network: str = "base"
    rpc_url: str
    chain_id: int
    usdc_address: str
    confirmations: int = Field(ge=1)
    # The first block to watch for deposits; None: the chain's head at the first start.
    start_block: int | None = Field(default=None, ge=0)
    # The deposit branch's extended public key (m/44'/60'/0'/0); None: deposits are off.
    deposit_xpub: str | None = None
    # The hot wallet's key: a 0600 file, else the INFERNET_HOT_WALLET_KEY variable;
    # neither: payouts are off (claims wait and say so).
    hot_wallet_key_file: str | None = None
    max_fee_per_gas: int = Field(gt=0)  # wei; a payout waits rather than pay more
    max_priority_fee_per_gas: int = Field(ge=0)
    max_gas: int = Field(gt=21_000)
    stuck_after_blocks: int = Field(ge=1)  # then re-sent with a higher fee
    max_block_range: int = Field(default=1000, ge=1)  # blocks per eth_getLogs
    max_addresses_per_query: int = Field(default=500, ge=1)  # deposit addresses per query
    checkpoint_history: int = Field(default=256, ge=2)  # blocks remembered to find a fork
    reconcile_window_blocks: int = Field(default=50_000, ge=1)

    @field_validator("network")
    @classmethod
    def _evm_chain(cls, value: str) -> str:
        try:
            found = chain(value)
        except AddressError as exc:
            raise ValueError(str(exc)) from exc
        if found.kind != "evm":
            raise ValueError(f"{found.name} is not an EVM chain")
        return found.name

    @field_validator("usdc_address")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            return validate_evm(value)
        except AddressError as exc:
            raise ValueError(f"usdc_address: {exc}") from exc

    @classmethod
    def for_chain(cls, network: str, rpc_url: str, **overrides: Any) -> EvmSettings:
        """The chain's preset, with `overrides` on top."""
        preset = PRESETS.get(network.strip().lower())
        if preset is None:
            raise SettlementConfigError(
                f"No EVM settlement for chain '{network}'; supported: {', '.join(PRESETS)}."
            )
        values: dict[str, Any] = {
            "network": network,
            "rpc_url": rpc_url,
            "chain_id": preset.chain_id,
            "usdc_address": preset.usdc_address,
            "confirmations": preset.confirmations,
            "max_fee_per_gas": int(preset.max_fee_gwei * GWEI),
            "max_priority_fee_per_gas": int(preset.max_priority_fee_gwei * GWEI),
            "max_gas": preset.max_gas,
            "stuck_after_blocks": preset.stuck_after_blocks,
        }
        return cls.model_validate(values | overrides)
