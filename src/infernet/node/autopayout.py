"""Automatic payouts (Book §8.5; config `auto_payout`, `auto_payout_threshold`,
`auto_payout_schedule`): claim the node owner's unclaimed earnings once they reach the
threshold and the chain's minimum payout, and otherwise leave them to grow.

`infernet payout --auto` (for cron) and the daemon's schedule make the same decision
through `auto_payout`. Below the threshold is not an error: nothing is claimed and the
outcome says how far there is to go. A claim is recorded in the control plane's ledger
and stays pending until an on-chain adapter settles it.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from pydantic import BaseModel

from infernet.node.client import ControlPlaneClient, ControlPlaneError
from infernet.node.config import NodeConfig

log = logging.getLogger("infernet.payout")
SCHEDULE_S = {"hourly": 3600.0, "daily": 86_400.0, "weekly": 604_800.0}


class _Summary(BaseModel):
    unclaimed: Decimal


class _Destination(BaseModel):
    network: str
    address: str
    min_payout: Decimal


class _Destinations(BaseModel):
    destinations: list[_Destination]


class _Claimed(BaseModel):
    id: str
    amount: Decimal
    network: str
    address: str
    detail: str


def claim_floor(chain_minimum: Decimal, threshold: Decimal) -> Decimal:
    """The least that is worth claiming: the threshold, never below the chain's minimum."""
    return max(chain_minimum, threshold)


async def auto_payout(client: ControlPlaneClient, threshold: Decimal) -> str:
    """Claim if due; what happened, in words. ControlPlaneError if it could not ask."""
    unclaimed = (await client.get("/api/v1/payments/summary", _Summary)).unclaimed
    destinations = (await client.get("/api/v1/payouts", _Destinations)).destinations
    if not destinations:
        return (
            f"Unclaimed {unclaimed} USDC; no payout address is set, nothing claimed. "
            "Set one with `infernet payout set --network base --address 0x...`."
        )
    floor = claim_floor(destinations[0].min_payout, threshold)
    if unclaimed < floor or unclaimed <= 0:
        return (
            f"Unclaimed {unclaimed} USDC is below the auto-payout floor of {floor} USDC "
            f"(threshold {threshold}, {destinations[0].network} minimum "
            f"{destinations[0].min_payout}); nothing claimed."
        )
    claimed = await client.call("POST", "/api/v1/payouts", _Claimed, b"{}")
    return (
        f"Claimed {claimed.amount} USDC to {claimed.address} on {claimed.network} "
        f"as {claimed.id}: {claimed.detail}."
    )


async def auto_payout_loop(client: ControlPlaneClient, config: NodeConfig) -> None:
    """The daemon's schedule: one decision per period while `auto_payout` is on."""
    period = SCHEDULE_S[config.auto_payout_schedule]
    while True:
        await asyncio.sleep(period)
        try:
            log.info(await auto_payout(client, config.auto_payout_threshold))
        except ControlPlaneError as exc:
            log.warning(f"Auto-payout skipped this {config.auto_payout_schedule} round: {exc}")
