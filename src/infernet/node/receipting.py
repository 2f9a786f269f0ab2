"""The node's side of a Compute Payment Receipt (Book §6.2): at the end of each job it
signs what it produced, at the prices the control plane sent with the job.

`value_usdc` is computed here, from the engine's real token counts (or the tokenizer's
count when the engine reports none; the control plane keeps that mark with the receipt),
with the same `job_value` the control plane checks it with. No prices in the assignment
means the control plane runs without payments: then there is no receipt.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from infernet.backends.base import Usage
from infernet.protocol.keys import NodeKey
from infernet.protocol.money import MoneyError, job_value, price, show
from infernet.protocol.receipts import Receipt, ReceiptFields, sign_as_node
from infernet.protocol.wire import JobAssignment

log = logging.getLogger("infernet.node")


def sign_receipt(job: JobAssignment, usage: Usage, key: NodeKey | None) -> Receipt | None:
    """The node-signed receipt for this attempt, or None when none is due."""
    if key is None or job.price_input_per_1k is None or job.price_output_per_1k is None:
        return None
    try:
        value = job_value(
            usage.prompt_tokens,
            usage.completion_tokens,
            price(job.price_input_per_1k),
            price(job.price_output_per_1k),
        )
    except MoneyError as exc:
        log.warning(f"Job {job.job_id}: no receipt, the job's prices are invalid: {exc}")
        return None
    fields = ReceiptFields(
        job_id=job.job_id,
        node_pubkey=key.public_hex,
        client_pubkey=job.client_pubkey,
        model=job.model,
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        completed_at=datetime.now(UTC),
        value_usdc=show(value),
        chain=job.chain,
    )
    receipt = sign_as_node(fields, key)
    log.info(f"CPR issued: {receipt.id}", extra={"job_id": job.job_id})
    return receipt
