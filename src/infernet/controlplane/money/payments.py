"""The money side of a control plane, built once by `create_app` when payments are on.

`PAYMENTS_ENABLED=false` (`Settings.payments_enabled`) builds none of it: the job manager
gets `NoAccounting`, and the billing, receipt, price and payout routes answer that
payments are off.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.money.billing import LedgerAccounting
from infernet.controlplane.money.ledger import Ledger
from infernet.controlplane.money.payouts import Payouts
from infernet.controlplane.money.platform_key import load_or_create_platform_key, platform_key_path
from infernet.controlplane.money.pricing import Pricing
from infernet.controlplane.money.settlement_store import DbSettlementStore
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.settings import Settings
from infernet.protocol.keys import NodeKey
from infernet.protocol.money import usdc
from infernet.settlement.base import Settlement
from infernet.settlement.factory import open_settlement


@dataclass
class Payments:
    accounting: LedgerAccounting
    ledger: Ledger
    pricing: Pricing
    payouts: Payouts
    platform_key: NodeKey
    # How money enters and leaves (settlement/): ledger-only, or USDC on an EVM chain.
    settlement: Settlement


def build_payments(db: AsyncEngine, registry: NodeRegistry, settings: Settings) -> Payments:
    """Every money part; bad settlement settings raise SettlementConfigError."""
    platform_key = load_or_create_platform_key(platform_key_path(settings))
    ledger = Ledger(db)
    pricing = Pricing(db, registry)
    accounting = LedgerAccounting(
        db,
        registry,
        ledger,
        pricing,
        platform_key,
        min_balance=usdc(settings.min_balance_usdc),
        max_attempts=getattr(settings, "max_attempts", 1),
    )
    settlement = open_settlement(settings.settlement, DbSettlementStore(db, ledger))
    payouts = Payouts(db, ledger, settlement.network)
    return Payments(accounting, ledger, pricing, payouts, platform_key, settlement)
