"""The key hierarchy's statements: user → node delegation, node → model keys, rotation,
and the model key's provenance signature over generated text."""

from __future__ import annotations

import hashlib
import json

import pytest
from pydantic import ValidationError

from infernet.protocol.delegation import (
    DelegationError,
    KeyRotation,
    ModelKeyStatement,
    NodeDelegation,
    authorize_model_key,
    canonical_json,
    delegate_node,
    rotation_statement,
    verify_model_key,
    verify_node_delegation,
    verify_rotation,
)
from infernet.protocol.keys import NodeKey, verify_schnorr
from infernet.protocol.provenance import output_sha256, sign_output, verify_output

NOW = 1_777_000_000


@pytest.fixture
def user() -> NodeKey:
    return NodeKey.generate()


@pytest.fixture
def node() -> NodeKey:
    return NodeKey.generate()


def test_a_delegation_is_the_user_keys_signature_over_canonical_json(
    user: NodeKey, node: NodeKey
) -> None:
    delegation = delegate_node(user, node.public_hex, now=NOW)
    expected = (
        f'{{"created_at":{NOW},"kind":"node_delegation",'
        f'"node_pubkey":"{node.public_hex}","user_pubkey":"{user.public_hex}"}}'
    ).encode()
    assert canonical_json(delegation.unsigned_fields()) == expected
    digest = hashlib.sha256(expected).digest()
    assert verify_schnorr(user.public_hex, digest, bytes.fromhex(delegation.signature))


def test_an_expiry_is_signed_when_present(user: NodeKey, node: NodeKey) -> None:
    delegation = delegate_node(user, node.public_hex, now=NOW, expires_at=NOW + 60)
    assert delegation.unsigned_fields()["expires_at"] == NOW + 60
    verify_node_delegation(delegation, node_pubkey=node.public_hex, now=NOW + 59)
    with pytest.raises(DelegationError, match="expired"):
        verify_node_delegation(delegation, now=NOW + 60)
    stretched = delegation.model_copy(update={"expires_at": NOW + 10_000})
    with pytest.raises(DelegationError, match="bad signature"):
        verify_node_delegation(stretched, now=NOW + 60)


def test_a_delegation_survives_a_file_round_trip_and_accepts_npubs(
    user: NodeKey, node: NodeKey
) -> None:
    delegation = delegate_node(user, node.npub, now=NOW)
    assert delegation.node_pubkey == node.public_hex
    again = NodeDelegation.model_validate_json(delegation.model_dump_json())
    verify_node_delegation(again, node_pubkey=node.npub, now=NOW)


def test_a_delegation_for_another_node_or_forged_by_another_user_is_refused(
    user: NodeKey, node: NodeKey
) -> None:
    delegation = delegate_node(user, node.public_hex, now=NOW)
    with pytest.raises(DelegationError, match="another node key"):
        verify_node_delegation(delegation, node_pubkey=NodeKey.generate().public_hex)
    impostor = delegation.model_copy(update={"user_pubkey": NodeKey.generate().public_hex})
    with pytest.raises(DelegationError, match="bad signature: the user key"):
        verify_node_delegation(impostor)


def test_statements_refuse_unknown_fields_and_bad_keys(user: NodeKey, node: NodeKey) -> None:
    raw = json.loads(delegate_node(user, node.public_hex, now=NOW).model_dump_json())
    with pytest.raises(ValidationError):
        NodeDelegation.model_validate({**raw, "extra": 1})
    with pytest.raises(ValidationError, match="node_pubkey"):
        NodeDelegation.model_validate({**raw, "node_pubkey": "npub1nope"})
    with pytest.raises(ValidationError):
        NodeDelegation.model_validate({**raw, "kind": "model_key"})


def test_an_expiry_before_creation_is_refused(user: NodeKey, node: NodeKey) -> None:
    with pytest.raises(DelegationError, match="later"):
        delegate_node(user, node.public_hex, now=NOW, expires_at=NOW)


def test_the_node_key_authorizes_a_model_key_for_one_model(node: NodeKey) -> None:
    model = NodeKey.generate()
    statement = authorize_model_key(node, "qwen2.5:14b", model.npub, now=NOW)
    assert statement.model_pubkey == model.public_hex
    verify_model_key(statement, node_pubkey=node.public_hex, model="qwen2.5:14b")
    with pytest.raises(DelegationError, match="not 'llama3'"):
        verify_model_key(statement, model="llama3")
    with pytest.raises(DelegationError, match="another node key"):
        verify_model_key(statement, node_pubkey=model.public_hex)
    moved = statement.model_copy(update={"model": "llama3"})
    with pytest.raises(DelegationError, match="bad signature: the node key"):
        verify_model_key(moved)
    ModelKeyStatement.model_validate_json(statement.model_dump_json())


def test_a_signature_over_one_kind_of_statement_never_passes_as_another(
    user: NodeKey, node: NodeKey
) -> None:
    delegation = delegate_node(user, node.public_hex, now=NOW)
    rotation = rotation_statement(user, node, now=NOW)
    assert delegation.digest() != rotation.digest()


def test_a_rotation_is_signed_by_the_old_and_the_new_key(node: NodeKey) -> None:
    new = NodeKey.generate()
    rotation = rotation_statement(node, new, now=NOW)
    verify_rotation(KeyRotation.model_validate_json(rotation.model_dump_json()))
    assert set(rotation.unsigned_fields()) == {"kind", "old_pubkey", "new_pubkey", "created_at"}
    hijack = rotation.model_copy(update={"new_pubkey": NodeKey.generate().public_hex})
    with pytest.raises(DelegationError, match="bad signature"):
        verify_rotation(hijack)
    with pytest.raises(DelegationError, match="new node"):
        verify_rotation(rotation.model_copy(update={"new_signature": rotation.old_signature}))
    with pytest.raises(DelegationError, match="fresh key"):
        rotation_statement(node, node)


def test_provenance_binds_job_attempt_and_exact_text() -> None:
    model = NodeKey.generate()
    signature = sign_output(model, "job_1", 2, "Paris is the capital.")
    assert verify_output(model.public_hex, signature, "job_1", 2, "Paris is the capital.")
    assert not verify_output(model.public_hex, signature, "job_1", 2, "Paris is the capital!")
    assert not verify_output(model.public_hex, signature, "job_1", 1, "Paris is the capital.")
    assert not verify_output(model.public_hex, signature, "job_2", 2, "Paris is the capital.")
    assert not verify_output(NodeKey.generate().public_hex, signature, "job_1", 2, "x")
    assert not verify_output(model.public_hex, "zz", "job_1", 2, "Paris is the capital.")


def test_provenance_digest_layout_is_canonical_json() -> None:
    model = NodeKey.generate()
    text = "héllo"
    signature = sign_output(model, "job_1", 1, text)
    text_hash = hashlib.sha256(text.encode()).hexdigest()
    message = (
        f'{{"attempt":1,"job_id":"job_1","kind":"provenance","output_sha256":"{text_hash}"}}'
    ).encode()
    assert output_sha256(text) == hashlib.sha256("héllo".encode()).hexdigest()
    digest = hashlib.sha256(message).digest()
    assert verify_schnorr(model.public_hex, digest, bytes.fromhex(signature))
