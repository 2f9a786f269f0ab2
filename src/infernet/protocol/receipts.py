"""Compute Payment Receipts (CPRs, Book §6.2): what a finished job is worth, signed twice.

Owns the receipt's fields, its canonical hash, and who signs it: the node signs over the real
token counts, the platform countersigns after checking the node's signature, and a client
may add its own signature (beyond the Book, for clients that hold a key). Redemption needs
both the node's and the platform's signature, so neither party can forge a payable receipt.

Decisions where the Book is silent or contradicts itself (spec Appendix A, item 4):

* Canonical hash: SHA-256 of the nine unsigned fields serialized as compact JSON with sorted
  keys (``separators=(",", ":")``, ``ensure_ascii=False``, UTF-8). Signatures, the receipt
  id and status never enter the hash.
* Field spellings are normalized before hashing, so one receipt has exactly one hash: public
  keys become 64 lower-case hex characters (an ``npub`` is accepted as input), ``value_usdc``
  becomes a plain decimal string with at most 6 places (USDC's precision) and no trailing
  zeros, ``completed_at`` becomes UTC ``YYYY-MM-DDTHH:MM:SSZ``. ``client_pubkey`` is null
  for clients that authenticate with an API key and hold no secp256k1 key.
* Signatures are BIP-340 Schnorr (64 bytes, 128 hex characters) over the 32-byte hash,
  although the Book's sample values (``3045022100…``) look like DER-encoded ECDSA. The Book
  says node keys sign with Schnorr everywhere else (§6.1); our keys are x-only (as in Nostr),
  which ECDSA cannot verify against without the y parity; and BIP-340 signatures have one
  fixed-size, non-malleable encoding, so a signature cannot be re-encoded into a "new" one.
* The id is content-derived, ``cpr_`` + the first 16 hex characters of the canonical hash:
  a node that retries the same receipt produces the same id, so it cannot be stored or paid
  twice under two ids.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from pydantic import BaseModel, ConfigDict, Field, field_validator

from infernet.protocol.keys import InvalidKeyError, NodeKey, parse_public_key, verify_schnorr

CPR_ID_PREFIX = "cpr_"
USDC_DECIMALS = 6
RECEIPT_FIELDS = (
    "job_id",
    "node_pubkey",
    "client_pubkey",
    "model",
    "input_tokens",
    "output_tokens",
    "completed_at",
    "value_usdc",
    "chain",
)

_MAX_USDC = Decimal(10) ** 15  # keeps every amount exact in Decimal's 28 digits
_SIGNATURE = r"^[0-9a-f]{128}$"
_TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


class ReceiptError(ValueError):
    """A receipt cannot be signed or countersigned (wrong key, invalid prior signature)."""


def normalize_usdc(value: str | Decimal | int | float) -> str:
    """The canonical decimal string of a USDC amount: ``"0.00156"``, ``"1"``, ``"0"``.

    Floats are refused: they cannot represent most decimal amounts exactly.
    """
    if isinstance(value, float | bool):
        raise ValueError(f"value_usdc must be a decimal string, not a {type(value).__name__}")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"value_usdc {value!r} is not a decimal number") from exc
    if not amount.is_finite() or amount < 0:
        raise ValueError("value_usdc must be a finite, non-negative amount")
    if amount >= _MAX_USDC:
        raise ValueError("value_usdc is implausibly large")
    amount = amount.normalize() if amount else Decimal(0)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -USDC_DECIMALS:
        raise ValueError(f"value_usdc has more than {USDC_DECIMALS} decimal places")
    return format(amount, "f")


def normalize_timestamp(value: str | datetime) -> str:
    """The canonical ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds) form of a completion time."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("completed_at must be timezone-aware")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not _TIMESTAMP_RE.fullmatch(value):
        raise ValueError("completed_at must look like 2026-04-30T14:23:43Z (UTC)")
    datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")  # rejects impossible dates
    return value


class ReceiptFields(BaseModel):
    """The nine unsigned fields of a CPR: exactly what the signatures cover."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(min_length=1, max_length=200)
    node_pubkey: str
    client_pubkey: str | None
    model: str = Field(min_length=1, max_length=200)
    input_tokens: int = Field(ge=0, strict=True)
    output_tokens: int = Field(ge=0, strict=True)
    completed_at: str
    value_usdc: str
    chain: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")

    @field_validator("node_pubkey", "client_pubkey", mode="before")
    @classmethod
    def _canonical_pubkey(cls, value: object) -> object:
        if value is None or not isinstance(value, str):
            return value
        try:
            return parse_public_key(value)
        except InvalidKeyError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("value_usdc", mode="before")
    @classmethod
    def _canonical_value(cls, value: object) -> object:
        if isinstance(value, str | Decimal | int | float):
            return normalize_usdc(value)
        return value

    @field_validator("completed_at", mode="before")
    @classmethod
    def _canonical_time(cls, value: object) -> object:
        if isinstance(value, str | datetime):
            return normalize_timestamp(value)
        return value

    def unsigned(self) -> ReceiptFields:
        """Just the nine signed fields (drops id and signatures from a `Receipt`)."""
        return ReceiptFields.model_validate(self.model_dump(include=set(RECEIPT_FIELDS)))


class Receipt(ReceiptFields):
    """A CPR as stored and sent: the nine fields, its id, and the signatures so far."""

    id: str = Field(pattern=r"^cpr_[0-9a-f]{16}$")
    node_signature: str = Field(pattern=_SIGNATURE)
    platform_signature: str | None = Field(default=None, pattern=_SIGNATURE)
    client_signature: str | None = Field(default=None, pattern=_SIGNATURE)


def canonical_json(fields: ReceiptFields) -> bytes:
    """Compact, sorted-key UTF-8 JSON of the nine signed fields."""
    data = fields.model_dump(include=set(RECEIPT_FIELDS))
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_hash(fields: ReceiptFields) -> bytes:
    """SHA-256 of `canonical_json`: the 32 bytes every party signs."""
    return hashlib.sha256(canonical_json(fields)).digest()


def receipt_id(fields: ReceiptFields) -> str:
    """``cpr_`` + the first 16 hex characters of the canonical hash."""
    return CPR_ID_PREFIX + canonical_hash(fields).hex()[:16]


def sign_as_node(fields: ReceiptFields, node_key: NodeKey) -> Receipt:
    """The node's signed receipt (not yet countersigned). The key must be ``node_pubkey``."""
    if fields.node_pubkey != node_key.public_hex:
        raise ReceiptError("this node key is not the receipt's node_pubkey")
    unsigned = fields.unsigned()
    signature = node_key.sign(canonical_hash(unsigned)).hex()
    return Receipt(**unsigned.model_dump(), id=receipt_id(unsigned), node_signature=signature)


def countersign(receipt: Receipt, platform_key: NodeKey, node_pub: str) -> Receipt:
    """The platform's countersignature, given only after the node's signature checks out.

    ``node_pub`` is the key the platform has registered for the node that ran the job; a
    receipt naming any other key is refused.
    """
    if receipt.node_pubkey != parse_public_key(node_pub):
        raise ReceiptError("receipt's node_pubkey is not the node that ran this job")
    digest = canonical_hash(receipt)
    if not verify_schnorr(receipt.node_pubkey, digest, bytes.fromhex(receipt.node_signature)):
        raise ReceiptError("node signature does not verify; refusing to countersign")
    if receipt.id != receipt_id(receipt):
        raise ReceiptError("receipt id does not match its contents")
    signature = platform_key.sign(digest).hex()
    return receipt.model_copy(update={"platform_signature": signature})


def add_client_signature(receipt: Receipt, client_key: NodeKey) -> Receipt:
    """A client's acknowledgement of the receipt (beyond the Book). Key must be client_pubkey."""
    if receipt.client_pubkey != client_key.public_hex:
        raise ReceiptError("this client key is not the receipt's client_pubkey")
    signature = client_key.sign(canonical_hash(receipt)).hex()
    return receipt.model_copy(update={"client_signature": signature})


@dataclass(frozen=True, slots=True)
class Check:
    """One verification step: its name, whether it passed, and why not."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """Every check run on a receipt, in order; ``ok`` only if all passed."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.ok)


def _key_check(name: str, claimed: str | None, expected: str) -> Check:
    try:
        wanted = parse_public_key(expected)
    except InvalidKeyError as exc:
        return Check(name, False, f"expected key is invalid: {exc}")
    if claimed != wanted:
        return Check(name, False, f"receipt names {claimed}, expected {wanted}")
    return Check(name, True)


def _signature_check(name: str, signature: str | None, key: str, digest: bytes) -> Check:
    if signature is None:
        return Check(name, False, "missing")
    try:
        valid = verify_schnorr(key, digest, bytes.fromhex(signature))
    except ValueError:
        valid = False
    return Check(name, valid, "" if valid else "does not verify over the canonical hash")


def verify(
    receipt: Receipt, node_pub: str, platform_pub: str, client_pub: str | None = None
) -> VerificationResult:
    """Check a receipt against the expected keys; the result lists each check.

    The client's signature is checked only when ``client_pub`` is given.
    """
    digest = canonical_hash(receipt)
    expected_id = receipt_id(receipt)
    checks = [
        Check(
            "id",
            receipt.id == expected_id,
            ""
            if receipt.id == expected_id
            else f"does not match the contents; expected {expected_id}",
        ),
        _key_check("node_pubkey", receipt.node_pubkey, node_pub),
        _signature_check("node_signature", receipt.node_signature, node_pub, digest),
        _signature_check("platform_signature", receipt.platform_signature, platform_pub, digest),
    ]
    if client_pub is not None:
        checks.append(_key_check("client_pubkey", receipt.client_pubkey, client_pub))
        checks.append(
            _signature_check("client_signature", receipt.client_signature, client_pub, digest)
        )
    return VerificationResult(tuple(checks))
