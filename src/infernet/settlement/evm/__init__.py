"""USDC settlement on EVM chains with web3.py (the `evm` extra: pip install 'infernet[evm]')."""

from __future__ import annotations

from infernet.settlement.errors import SettlementConfigError

try:
    import web3  # noqa: F401
except ImportError as exc:  # say how to get it, rather than a bare ModuleNotFoundError
    raise SettlementConfigError(
        "EVM settlement needs web3.py: install the evm extra (pip install 'infernet[evm]')."
    ) from exc
