"""Compute Payment Receipts: one canonical hash, node signs, platform countersigns."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from infernet.protocol.keys import NodeKey, verify_schnorr
from infernet.protocol.receipts import (
    RECEIPT_FIELDS,
    Receipt,
    ReceiptError,
    ReceiptFields,
    add_client_signature,
    canonical_hash,
    canonical_json,
    countersign,
    normalize_usdc,
    receipt_id,
    sign_as_node,
    verify,
)

NODE = NodeKey.generate()
PLATFORM = NodeKey.generate()
CLIENT = NodeKey.generate()


def _fields(**overrides: Any) -> ReceiptFields:
    data: dict[str, Any] = {
        "job_id": "job_9a3f2c1d",
        "node_pubkey": NODE.public_hex,
        "client_pubkey": CLIENT.public_hex,
        "model": "qwen2.5:14b",
        "input_tokens": 24,
        "output_tokens": 312,
        "completed_at": "2026-04-30T14:23:43Z",
        "value_usdc": "0.00156",
        "chain": "base",
    }
    data.update(overrides)
    return ReceiptFields(**data)


def _full_receipt() -> Receipt:
    signed = countersign(sign_as_node(_fields(), NODE), PLATFORM, NODE.public_hex)
    return add_client_signature(signed, CLIENT)


# --- Canonical form ----------------------------------------------------------------------


def test_canonical_json_is_compact_sorted_and_covers_exactly_nine_fields() -> None:
    text = canonical_json(_fields(model="modèle")).decode("utf-8")
    assert text.startswith('{"chain":"base","client_pubkey":"')
    assert '"model":"modèle"' in text  # not \u-escaped
    assert ", " not in text and ": " not in text
    assert sorted(json.loads(text)) == sorted(RECEIPT_FIELDS)
    assert len(RECEIPT_FIELDS) == 9


def test_canonical_hash_is_sha256_of_the_canonical_json() -> None:
    fields = _fields()
    assert canonical_hash(fields) == hashlib.sha256(canonical_json(fields)).digest()


def test_signatures_and_id_are_not_part_of_the_hash() -> None:
    receipt = _full_receipt()
    assert canonical_hash(receipt) == canonical_hash(_fields())
    assert receipt.id == receipt_id(_fields())
    assert receipt.id.startswith("cpr_") and len(receipt.id) == 20


def test_equivalent_spellings_hash_the_same() -> None:
    plain = _fields()
    respelled = _fields(
        node_pubkey=NODE.npub,
        client_pubkey=CLIENT.public_hex.upper(),
        value_usdc="0.0015600",
        completed_at=datetime(2026, 4, 30, 16, 23, 43, tzinfo=timezone(timedelta(hours=2))),
    )
    assert canonical_hash(respelled) == canonical_hash(plain)
    assert _fields(value_usdc=Decimal("0.00156")) == plain


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("0.00156", "0.00156"),
        ("1.000000", "1"),
        ("0", "0"),
        ("0.000", "0"),
        (3, "3"),
        ("1E+2", "100"),
        ("0.000001", "0.000001"),
    ],
)
def test_usdc_amounts_have_one_spelling(raw: str | int, canonical: str) -> None:
    assert normalize_usdc(raw) == canonical


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"value_usdc": 0.00156}, "not a float"),
        ({"value_usdc": "-1"}, "non-negative"),
        ({"value_usdc": "0.0000001"}, "6 decimal places"),
        ({"value_usdc": "NaN"}, "finite"),
        ({"value_usdc": "abc"}, "not a decimal"),
        ({"completed_at": "2026-04-30 14:23:43"}, "2026-04-30T14:23:43Z"),
        ({"completed_at": "2026-02-30T14:23:43Z"}, "day is out of range"),
        ({"completed_at": datetime(2026, 4, 30)}, "timezone-aware"),
        ({"node_pubkey": "npub1xyz"}, "invalid npub"),
        ({"input_tokens": -1}, "greater than or equal to 0"),
        ({"output_tokens": "312"}, "valid integer"),
        ({"chain": "Base"}, "pattern"),
        ({"job_id": ""}, "at least 1 character"),
    ],
)
def test_invalid_fields_are_refused(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        _fields(**overrides)


def test_client_without_a_key_is_null_in_the_hash() -> None:
    fields = _fields(client_pubkey=None)
    assert '"client_pubkey":null' in canonical_json(fields).decode()
    with pytest.raises(ReceiptError, match="client_pubkey"):
        add_client_signature(sign_as_node(fields, NODE), CLIENT)


# --- Signing -----------------------------------------------------------------------------


def test_full_lifecycle_verifies() -> None:
    receipt = _full_receipt()
    result = verify(receipt, NODE.npub, PLATFORM.public_hex, CLIENT.public_hex)
    assert result.ok, result.failures
    assert [c.name for c in result.checks] == [
        "id",
        "node_pubkey",
        "node_signature",
        "platform_signature",
        "client_pubkey",
        "client_signature",
    ]


def test_signatures_are_bip340_over_the_canonical_hash() -> None:
    receipt = _full_receipt()
    digest = canonical_hash(receipt)
    for key, sig in [
        (NODE, receipt.node_signature),
        (PLATFORM, receipt.platform_signature),
        (CLIENT, receipt.client_signature),
    ]:
        assert sig is not None and len(sig) == 128
        assert verify_schnorr(key.public_hex, digest, bytes.fromhex(sig))


def test_receipt_survives_a_json_round_trip() -> None:
    receipt = _full_receipt()
    again = Receipt.model_validate_json(receipt.model_dump_json())
    assert again == receipt
    assert verify(again, NODE.public_hex, PLATFORM.public_hex, CLIENT.public_hex).ok


def test_a_node_cannot_sign_for_another_node() -> None:
    with pytest.raises(ReceiptError, match="node_pubkey"):
        sign_as_node(_fields(), NodeKey.generate())


def test_pending_receipt_lacks_only_the_platform_signature() -> None:
    result = verify(sign_as_node(_fields(), NODE), NODE.public_hex, PLATFORM.public_hex)
    assert [(c.name, c.detail) for c in result.failures] == [("platform_signature", "missing")]


def test_platform_refuses_to_countersign_a_forged_node_signature() -> None:
    receipt = sign_as_node(_fields(), NODE)
    forged = receipt.model_copy(update={"output_tokens": 9999})
    with pytest.raises(ReceiptError, match="node signature does not verify"):
        countersign(forged, PLATFORM, NODE.public_hex)


def test_platform_refuses_a_receipt_from_a_node_that_did_not_run_the_job() -> None:
    other = NodeKey.generate()
    receipt = sign_as_node(_fields(node_pubkey=other.public_hex), other)
    with pytest.raises(ReceiptError, match="not the node that ran this job"):
        countersign(receipt, PLATFORM, NODE.public_hex)


def test_platform_refuses_a_receipt_with_a_wrong_id() -> None:
    receipt = sign_as_node(_fields(), NODE).model_copy(update={"id": "cpr_" + "0" * 16})
    with pytest.raises(ReceiptError, match="id"):
        countersign(receipt, PLATFORM, NODE.public_hex)


# --- Tampering ---------------------------------------------------------------------------

TAMPERED = {
    "job_id": "job_other",
    "node_pubkey": NodeKey.generate().public_hex,
    "client_pubkey": NodeKey.generate().public_hex,
    "model": "qwen2.5:72b",
    "input_tokens": 25,
    "output_tokens": 3120,
    "completed_at": "2026-04-30T14:23:44Z",
    "value_usdc": "1.00156",
    "chain": "ethereum",
}


@pytest.mark.parametrize("name", RECEIPT_FIELDS)
def test_tampering_with_any_field_breaks_every_signature(name: str) -> None:
    receipt = _full_receipt()
    tampered = Receipt.model_validate({**receipt.model_dump(), name: TAMPERED[name]})
    result = verify(tampered, NODE.public_hex, PLATFORM.public_hex, CLIENT.public_hex)
    failed = {c.name for c in result.failures}
    assert {"id", "node_signature", "platform_signature", "client_signature"} <= failed


def test_tampered_signatures_fail_their_own_check() -> None:
    receipt = _full_receipt()
    flipped = receipt.model_copy(update={"platform_signature": receipt.node_signature})
    result = verify(flipped, NODE.public_hex, PLATFORM.public_hex)
    assert [c.name for c in result.failures] == ["platform_signature"]


def test_wrong_expected_keys_are_reported() -> None:
    result = verify(_full_receipt(), PLATFORM.public_hex, NODE.public_hex)
    assert {c.name for c in result.failures} == {
        "node_pubkey",
        "node_signature",
        "platform_signature",
    }
    assert not result.ok


def test_receipt_model_is_frozen_and_strict() -> None:
    receipt = _full_receipt()
    with pytest.raises(ValidationError):
        receipt.output_tokens = 1  # type: ignore[misc, unused-ignore]
    with pytest.raises(ValidationError, match="Extra inputs"):
        Receipt.model_validate({**receipt.model_dump(), "status": "redeemed"})
    with pytest.raises(ValidationError, match="pattern"):
        Receipt.model_validate({**receipt.model_dump(), "node_signature": "3045022100ab"})


def test_completed_at_from_a_utc_datetime() -> None:
    stamp = datetime(2026, 4, 30, 14, 23, 43, 999_000, tzinfo=UTC)
    assert _fields(completed_at=stamp).completed_at == "2026-04-30T14:23:43Z"
