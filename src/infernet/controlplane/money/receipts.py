"""The control plane's check of a node-signed receipt before it countersigns (Book §6.2).

A receipt is countersigned only if it is about exactly what the control plane saw: this
job, this node's registered key, the model routed, the token counts the node reported
for the attempt, the client key and chain sent with the job, and a `value_usdc` equal to
`job_value` at the prices quoted to the node. Anything else is refused with the reason.
"""

from __future__ import annotations

from pydantic import ValidationError

from infernet.controlplane.money.accounting import FinishedJob, Quote, Segment
from infernet.protocol.keys import NodeKey
from infernet.protocol.modelnames import routing_key
from infernet.protocol.money import job_value, usdc
from infernet.protocol.receipts import Receipt, ReceiptError, countersign


class ReceiptRejected(Exception):
    """The node's receipt does not match the job; the message says which field."""


def _mismatches(receipt: Receipt, segment: Segment, job: FinishedJob, quote: Quote) -> list[str]:
    expected_value = job_value(
        segment.prompt_tokens, segment.completion_tokens, quote.input_per_1k, quote.output_per_1k
    )
    checks = {
        "job_id": receipt.job_id == job.job_id,
        "model": routing_key(receipt.model) == job.routing_key,
        "input_tokens": receipt.input_tokens == segment.prompt_tokens,
        "output_tokens": receipt.output_tokens == segment.completion_tokens,
        "client_pubkey": receipt.client_pubkey == quote.client_pubkey,
        "chain": receipt.chain == quote.chain,
        "value_usdc": usdc(receipt.value_usdc) == expected_value,
    }
    return [name for name, ok in checks.items() if not ok]


def check_and_countersign(
    segment: Segment, job: FinishedJob, quote: Quote, node_pub: str, platform_key: NodeKey
) -> Receipt:
    """The countersigned receipt, or `ReceiptRejected` saying why not."""
    try:
        receipt = Receipt.model_validate(segment.receipt)
    except ValidationError as exc:
        raise ReceiptRejected(f"malformed receipt: {exc.errors()[0]['msg']}") from exc
    wrong = _mismatches(receipt, segment, job, quote)
    if wrong:
        raise ReceiptRejected(f"receipt disagrees with the job on: {', '.join(wrong)}")
    try:
        return countersign(receipt, platform_key, node_pub)
    except ReceiptError as exc:
        raise ReceiptRejected(str(exc)) from exc
