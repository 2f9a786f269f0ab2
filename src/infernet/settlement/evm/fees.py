"""What a payout transaction may pay for gas: estimated, with a margin, under caps.

EIP-1559 fees: the tip is the node's suggestion (capped); the fee cap is twice the latest
base fee plus the tip (room for six full blocks of base-fee rises), never above the
configured cap. A payout whose network fee is above the cap waits rather than overpay.
A stuck transaction is replaced with the same nonce and 12.5 % more on both the tip and
the fee cap (nodes require at least 10 % to accept a replacement).
"""

from __future__ import annotations

from dataclasses import dataclass

from infernet.settlement.errors import SettlementError
from infernet.settlement.evm.config import GWEI, EvmSettings
from infernet.settlement.evm.rpc import Fees

GAS_MARGIN = 1.2


class FeeCapped(SettlementError):
    """The transaction would cost more than the caps allow; the message says by how much."""


@dataclass(frozen=True, slots=True)
class FeePlan:
    gas: int
    max_fee: int  # wei per gas
    priority_fee: int  # wei per gas

    @property
    def max_cost(self) -> int:
        return self.gas * self.max_fee


def gwei(wei: int) -> str:
    return f"{wei / GWEI:.4g} gwei"


def plan(estimate: int, fees: Fees, settings: EvmSettings) -> FeePlan:
    if estimate > settings.max_gas:
        raise FeeCapped(
            f"the transfer needs {estimate} gas, above the cap of {settings.max_gas} "
            "(max_gas); raise the cap if that is expected on this chain"
        )
    gas = min(int(estimate * GAS_MARGIN) + 1, settings.max_gas)
    tip = min(fees.priority_fee, settings.max_priority_fee_per_gas)
    if fees.base_fee + tip > settings.max_fee_per_gas:
        raise FeeCapped(
            f"the network fee is {gwei(fees.base_fee + tip)} per gas, above the cap of "
            f"{gwei(settings.max_fee_per_gas)}; the payout waits for fees to fall"
        )
    return FeePlan(gas, min(2 * fees.base_fee + tip, settings.max_fee_per_gas), tip)


def _raise(value: int) -> int:
    return max(-(-value * 9 // 8), value + 1)  # +12.5 %, rounded up, at least 1 wei


def bump(previous: FeePlan, fees: Fees, settings: EvmSettings) -> FeePlan:
    """The replacement of a stuck transaction (same gas, same nonce, higher fees)."""
    suggested = min(fees.priority_fee, settings.max_priority_fee_per_gas)
    tip = max(_raise(previous.priority_fee), suggested)
    needed = max(_raise(previous.max_fee), fees.base_fee + tip)  # the least a node takes
    if needed > settings.max_fee_per_gas:
        raise FeeCapped(
            f"a replacement needs {gwei(needed)} per gas, above the cap of "
            f"{gwei(settings.max_fee_per_gas)}; the transaction waits as it is"
        )
    max_fee = min(max(needed, 2 * fees.base_fee + tip), settings.max_fee_per_gas)
    return FeePlan(previous.gas, max_fee, tip)
