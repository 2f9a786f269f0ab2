"""The one place a `Settlement` is made from the operator's settings."""

from __future__ import annotations

import os
from collections.abc import Mapping

from infernet.settlement.base import Settlement
from infernet.settlement.ledger_mode import LedgerSettlement
from infernet.settlement.settings import SettlementSettings
from infernet.settlement.store import SettlementStore


def open_settlement(
    settings: SettlementSettings,
    store: SettlementStore,
    environ: Mapping[str, str] = os.environ,
) -> Settlement:
    """Ledger mode, or EVM settlement on `store` (keys loaded now, the endpoint first
    called by `check` or `start`). Bad settings raise SettlementConfigError."""
    if settings.mode == "ledger":
        return LedgerSettlement()
    evm = settings.evm()  # before importing web3: a missing --rpc-url is said first
    from infernet.settlement.evm.adapter import EvmSettlement

    return EvmSettlement.open(evm, store, environ)
