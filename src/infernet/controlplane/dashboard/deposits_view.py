"""What the Billing page shows of on-chain settlement: the account's deposit address as
text and a QR code (an EIP-681 payment URI a wallet app scans), the network, the token
contract and the confirmations a deposit waits for, and the deposits seen so far; and
what the Earnings page shows of payouts (each claim's state and transaction hash).

Under `--settlement ledger` there is no chain: `deposit_view` says so and the page keeps
its ledger-credit form.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from infernet.controlplane.money.payments import Payments
from infernet.controlplane.services import Services
from infernet.controlplane.store import chain_deposits
from infernet.controlplane.store import payouts as payout_store
from infernet.protocol.money import from_micros, show
from infernet.settlement.records import DepositState


def qr_svg(text: str) -> Markup:
    """`text` as an inline SVG QR code (segno, in the evm extra with web3)."""
    import segno

    code = segno.make(text, error="m")
    svg = code.svg_inline(scale=4, border=2, dark="#000", light="#fff", omitsize=False)
    return Markup(svg.replace("<svg ", '<svg role="img" aria-label="QR code" id="deposit-qr" ', 1))


async def deposit_view(services: Services, payments: Payments, account_id: str) -> dict[str, Any]:
    """The Billing page's chain part (`chain` None: ledger-only settlement)."""
    settlement = payments.settlement
    if settlement.network is None:
        return {"chain": None}
    found = await settlement.deposit_instructions(account_id)
    return {
        "chain": found,
        "qr": qr_svg(found.payment_uri) if found.payment_uri else None,
        "deposits": [
            _row(d, settlement.confirmations)
            for d in await chain_deposits.deposits_of(services.db, account_id, 50)
        ],
    }


def _row(deposit: chain_deposits.DepositRow, required: int) -> dict[str, Any]:
    record = deposit.record
    confirmations = {
        DepositState.UNCONFIRMED: f"{record.confirmations} of {required}",
        DepositState.CREDITED: f"{required} or more",
    }.get(record.state, "—")
    return {
        "seen": deposit.created_at,
        "amount": show(from_micros(record.transfer.micros)),
        "state": record.state.value,
        "detail": record.detail,
        "confirmations": confirmations,
        "tx_hash": record.transfer.tx_hash,
    }


async def payouts_view(services: Services, owner: str) -> list[dict[str, Any]]:
    """The owner's payout claims, newest first, with their transactions."""
    return [
        {
            "created_at": p.created_at,
            "amount": show(from_micros(p.micros)),
            "address": p.address,
            "network": p.network,
            "status": p.status,
            "detail": p.detail,
            "tx_hash": p.tx_hash,
            "block_number": p.block_number,
        }
        for p in await payout_store.requests_for(services.db, owner, 50)
    ]
