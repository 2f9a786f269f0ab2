"""A payout transfer signed into an `Attempt`, and its broadcast.

An attempt is stored before its first broadcast (the store's `add_attempt`), so a crash
between the two leaves a transaction we re-broadcast on restart, never one we forgot:
its hash is known before the node ever sees it. Re-broadcasting the same signed bytes is
harmless (same hash, same nonce), which is what makes recovery safe.
"""

from __future__ import annotations

from typing import Any

from infernet.settlement.evm.config import EvmSettings
from infernet.settlement.evm.fees import FeePlan
from infernet.settlement.evm.hotwallet import HotWallet
from infernet.settlement.evm.rpc import EvmRpc, SendOutcome, Sent
from infernet.settlement.records import Attempt, AttemptState, Claim
from infernet.settlement.store import PayoutStore

ACCEPTED = (SendOutcome.ACCEPTED, SendOutcome.KNOWN)


def sign_attempt(
    wallet: HotWallet,
    rpc: EvmRpc,
    settings: EvmSettings,
    claim: Claim,
    nonce: int,
    fees: FeePlan,
    head: int,
) -> Attempt:
    transaction: dict[str, Any] = {
        "type": 2,
        "chainId": settings.chain_id,
        "nonce": nonce,
        "to": rpc.token,
        "value": 0,
        "data": rpc.transfer_data(claim.address, claim.micros),
        "gas": fees.gas,
        "maxFeePerGas": fees.max_fee,
        "maxPriorityFeePerGas": fees.priority_fee,
    }
    signed = wallet.sign(transaction)
    return Attempt(
        claim_id=claim.id,
        network=settings.network,
        sender=wallet.address,
        nonce=nonce,
        tx_hash=signed.tx_hash,
        raw=signed.raw,
        gas=fees.gas,
        max_fee=fees.max_fee,
        priority_fee=fees.priority_fee,
        created_block=head,
    )


async def broadcast(rpc: EvmRpc, store: PayoutStore, attempt: Attempt) -> Sent:
    """Send the stored attempt; mark it `sent` once a node has it."""
    sent = await rpc.send_raw(attempt.raw)
    if sent.outcome in ACCEPTED and attempt.state is AttemptState.SIGNED:
        await store.set_attempt_state(attempt.tx_hash, AttemptState.SENT)
    return sent


def refusal(sent: Sent, wallet: str) -> str:
    """Why a claim waits after the node refused its transaction."""
    if sent.outcome is SendOutcome.NO_GAS_FUNDS:
        return (
            f"waiting: the hot wallet {wallet} cannot pay the gas for this payout; the "
            "operator sends it some of the chain's native coin, then it is sent again"
        )
    if sent.outcome is SendOutcome.UNDERPRICED:
        return "waiting: another transaction from the hot wallet holds this nonce; retrying"
    return f"waiting: the node refused the payout transaction ({sent.message}); retrying"
