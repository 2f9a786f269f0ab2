"""How a control plane settles: `ledger` (no chain) or `evm` (USDC on one EVM chain).

These are the operator's choices (`infernet cp serve --settlement ...`); `evm()` turns
them into the adapter's full `EvmSettings` (the chain's preset with these on top). This
module needs no web3.py: a ledger-mode control plane runs without the evm extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from infernet.settlement.errors import SettlementConfigError

if TYPE_CHECKING:
    from infernet.settlement.evm.config import EvmSettings


class SettlementSettings(BaseModel):
    mode: Literal["ledger", "evm"] = "ledger"
    # --- evm -----------------------------------------------------------------------------
    chain: str = "base"  # base, ethereum, polygon, arbitrum (settlement/evm/config.py)
    rpc_url: str | None = None
    # The deposit branch's xpub (m/44'/60'/0'/0); None: deposits are off.
    deposit_xpub: str | None = None
    # A 0600 file holding the hot wallet's key (else INFERNET_HOT_WALLET_KEY); neither:
    # payouts are off and claims wait, saying so.
    hot_wallet_key_file: str | None = None
    confirmations: int | None = Field(default=None, ge=1)  # None: the chain's preset
    start_block: int | None = Field(default=None, ge=0)  # None: the head at first start
    chain_id: int | None = None  # for a testnet or a local chain; None: the preset's
    usdc_address: str | None = None  # likewise
    # Any other EvmSettings field (fee caps, scan ranges), e.g. {"max_fee_per_gas": ...}.
    overrides: dict[str, Any] = Field(default_factory=dict)
    # The background loop (controlplane/watchers/settlement.py): seconds between ticks
    # (watch deposits, move payouts along) and between scheduled reconciliations.
    tick_interval_s: float = Field(default=5.0, gt=0)
    reconcile_interval_s: float = Field(default=3600.0, gt=0)
    # The account whose Slack/Discord webhooks (dashboard Settings -> Notifications) are
    # told of a reconciliation difference; None: the log and the metric only.
    alert_account: str | None = None

    def evm(self) -> EvmSettings:
        """The adapter's settings; SettlementConfigError says what is missing or wrong."""
        from infernet.settlement.evm.config import EvmSettings

        if not self.rpc_url:
            raise SettlementConfigError(
                "--settlement evm needs --rpc-url: the JSON-RPC endpoint of a "
                f"{self.chain} node (your own, or a provider's)."
            )
        chosen = {
            "confirmations": self.confirmations,
            "start_block": self.start_block,
            "chain_id": self.chain_id,
            "usdc_address": self.usdc_address,
            "deposit_xpub": self.deposit_xpub,
            "hot_wallet_key_file": self.hot_wallet_key_file,
        }
        given = {k: v for k, v in chosen.items() if v is not None} | self.overrides
        try:
            return EvmSettings.for_chain(self.chain, self.rpc_url, **given)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise SettlementConfigError(f"EVM settlement settings: {problems}.") from None
