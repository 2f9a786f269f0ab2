"""Earnings withheld from a job whose answer failed verification (verification/).

What the job moved into the node owner's `earnings:<owner>` is moved on to
`withheld:<owner>`, out of what the owner can claim, in one ledger transaction keyed
`withhold:<job>:<owner>` (so a repeated call withholds once). Earnings already claimed
(on their way to a chain) cannot be taken back: then what is left is withheld, and the
shortfall is logged. The client was charged as usual; the money stays in the ledger, on
an account the platform decides about (released after an appeal, or kept).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from infernet.controlplane.money.ledger import Ledger, Overdraft, earnings

log = logging.getLogger("infernet.withholding")


def withheld(owner: str) -> str:
    return f"withheld:{owner}"


async def withhold(ledger: Ledger, job_id: str, owner: str, reason: str) -> Decimal:
    """Withhold what `owner` earned for `job_id`; the amount withheld."""
    earned = await ledger.job_total(job_id, earnings(owner))
    if earned <= 0:
        return Decimal(0)
    amount = min(earned, await ledger.balance(earnings(owner)))
    if amount < earned:
        log.warning(
            "earnings of a failed job were claimed already",
            extra={"job_id": job_id, "owner": owner, "earned": str(earned)},
        )
    if amount <= 0:
        return Decimal(0)
    moves = [(earnings(owner), -amount), (withheld(owner), amount)]
    try:
        await ledger.post(
            "withhold", f"withhold:{job_id}:{owner}", moves, job_id=job_id, memo=reason[:200]
        )
    except Overdraft:  # claimed between the read and the post
        return Decimal(0)
    return amount
