"""Response provenance (Book §6.5, KEY-03): a model key's signature over what it generated.

When a node finishes a job it signs, with the key of the model that ran it, a digest that
binds the job, the attempt and the exact text streamed for that attempt. Anyone holding
the text and the model's public key can check that this model key on this node produced
it; the node's ``model_key`` statement (protocol/delegation.py) links the model key to the
node key, and the node's delegation links that to the operator's user key.

Digest, decided here: ``SHA-256`` of the canonical JSON (sorted keys, compact, UTF-8) of
``{"kind": "provenance", "job_id": …, "attempt": …, "output_sha256": …}``, where
``output_sha256`` is the lower-case hex SHA-256 of the attempt's generated text in UTF-8
(after a failover, only the text this attempt produced). Signature: BIP-340 Schnorr, 128 hex.
"""

from __future__ import annotations

import hashlib
import re

from infernet.protocol.delegation import canonical_json
from infernet.protocol.keys import NodeKey, verify_schnorr

_SIGNATURE_RE = re.compile(r"[0-9a-f]{128}")


def output_sha256(text: str) -> str:
    """Lower-case hex SHA-256 of generated text, UTF-8 encoded."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def provenance_digest(job_id: str, attempt: int, text_sha256: str) -> bytes:
    """The 32 bytes a model key signs for one attempt of one job."""
    fields = {
        "kind": "provenance",
        "job_id": job_id,
        "attempt": attempt,
        "output_sha256": text_sha256,
    }
    return hashlib.sha256(canonical_json(fields)).digest()


def sign_output(model_key: NodeKey, job_id: str, attempt: int, text: str) -> str:
    """The model key's signature (hex) over this attempt's generated text."""
    return model_key.sign(provenance_digest(job_id, attempt, output_sha256(text))).hex()


def verify_output(model_pubkey: str, signature: str, job_id: str, attempt: int, text: str) -> bool:
    """True if ``signature`` is the model key's signature over exactly this text."""
    if not _SIGNATURE_RE.fullmatch(signature):
        return False
    digest = provenance_digest(job_id, attempt, output_sha256(text))
    return verify_schnorr(model_pubkey, digest, bytes.fromhex(signature))
