"""USDC settlement on EVM chains with web3.py (the `evm` extra: pip install 'infernet[evm]')."""

from __future__ import annotations

import sys

from infernet.settlement.errors import SettlementConfigError

_recursion_limit = sys.getrecursionlimit()
try:
    import eth_account  # noqa: F401
    import web3  # noqa: F401
except ImportError as exc:  # say how to get it, rather than a bare ModuleNotFoundError
    raise SettlementConfigError(
        "EVM settlement needs web3.py: install the evm extra (pip install 'infernet[evm]')."
    ) from exc
# web3 imports py_ecc, which raises the recursion limit to 100,000 for the whole process.
# Python's C JSON parser (json.loads, and so every request body Starlette parses) trusts
# that limit: a body nested 100,000 deep would overflow the C stack and kill the control
# plane with a segfault. Nothing here recurses that deep, so the limit goes back.
sys.setrecursionlimit(_recursion_limit)
