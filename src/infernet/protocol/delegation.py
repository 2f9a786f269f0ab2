"""The key hierarchy's signed statements (Book §6.5): user → node → model, and rotation.

Owns three statements, each a small JSON object signed with BIP-340 Schnorr:

* ``node_delegation``: the *user* key (the operator's master identity, ideally offline)
  says "node key X acts on my behalf", optionally until ``expires_at``. The node sends it
  at registration; the control plane verifies it before accepting and records the user key.
* ``model_key``: the *node* key says "model key Z is authorized for <model> on me". Every
  installed model gets its own key (node/model_keys.py); it signs response provenance.
* ``key_rotation``: the *old* node key and the *new* node key both sign "old → new", so
  the control plane can move a node to its new key without a new identity (Book §6.5
  rotation; the old key stays valid for a grace period).

Encoding, decided here once (the Book names the statements but not their bytes):

* A statement's signed digest is ``SHA-256`` of its *unsigned* fields as canonical JSON:
  sorted keys, compact separators ``(",", ":")``, ``ensure_ascii=False``, UTF-8. Fields that
  are absent (``expires_at`` when the delegation never expires) are left out, not ``null``.
  Signature fields never enter the digest. ``kind`` always does, so a signature over one
  kind of statement can never be passed off as another.
* Public keys are 64 lower-case hex characters (x-only, as in Nostr); an ``npub`` is
  accepted as input and normalized. Times are integer Unix seconds. Signatures are 128
  lower-case hex characters.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from infernet.protocol.keys import InvalidKeyError, NodeKey, parse_public_key, verify_schnorr

SIGNATURE_PATTERN = r"^[0-9a-f]{128}$"


class DelegationError(ValueError):
    """A statement does not hold: bad signature, wrong key, expired. The text says which."""


def canonical_json(fields: Mapping[str, object]) -> bytes:
    """Sorted-key, compact, UTF-8 JSON: the one byte string a statement's digest covers."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _now() -> int:
    return int(time.time())


class _Statement(BaseModel):
    """A signed statement: its unsigned fields are hashed, its signature fields are not."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    _signature_fields: ClassVar[frozenset[str]] = frozenset({"signature"})

    def unsigned_fields(self) -> dict[str, object]:
        return self.model_dump(exclude=set(self._signature_fields), exclude_none=True)

    def digest(self) -> bytes:
        """The 32 bytes the signature(s) cover."""
        return hashlib.sha256(canonical_json(self.unsigned_fields())).digest()

    @field_validator("*", mode="before")
    @classmethod
    def _normalize_pubkeys(cls, value: object, info: ValidationInfo) -> object:
        name = info.field_name or ""
        if isinstance(value, str) and name.endswith("pubkey"):
            try:
                return parse_public_key(value)
            except InvalidKeyError as exc:
                raise ValueError(f"{name}: {exc}") from exc
        return value


def _check(public_hex: str, digest: bytes, signature_hex: str, who: str) -> None:
    if not verify_schnorr(public_hex, digest, bytes.fromhex(signature_hex)):
        raise DelegationError(f"bad signature: the {who} key did not sign this statement")


# --- user → node ---------------------------------------------------------------------


class NodeDelegation(_Statement):
    """ "Node key ``node_pubkey`` acts on behalf of user ``user_pubkey``", signed by the user."""

    kind: Literal["node_delegation"] = "node_delegation"
    user_pubkey: str
    node_pubkey: str
    created_at: int = Field(ge=0)
    expires_at: int | None = Field(default=None, ge=0)
    signature: str = Field(pattern=SIGNATURE_PATTERN)


def delegate_node(
    user_key: NodeKey, node_pubkey: str, *, now: int | None = None, expires_at: int | None = None
) -> NodeDelegation:
    """The user key authorizes a node key (optionally until ``expires_at``, Unix seconds)."""
    created = _now() if now is None else now
    if expires_at is not None and expires_at <= created:
        raise DelegationError("expires_at must be later than the delegation's creation time")
    draft = NodeDelegation.model_construct(
        user_pubkey=user_key.public_hex,
        node_pubkey=parse_public_key(node_pubkey),
        created_at=created,
        expires_at=expires_at,
        signature="0" * 128,
    )
    return NodeDelegation.model_validate(
        {**draft.model_dump(), "signature": user_key.sign(draft.digest()).hex()}
    )


def verify_node_delegation(
    delegation: NodeDelegation, *, node_pubkey: str | None = None, now: float | None = None
) -> None:
    """Raise `DelegationError` unless the user key signed it, it names ``node_pubkey`` (when
    given) and it has not expired."""
    if node_pubkey is not None and delegation.node_pubkey != parse_public_key(node_pubkey):
        raise DelegationError(
            "the delegation is for another node key; sign one for this node "
            "(`infernet keys delegate --user-key FILE`)"
        )
    moment = _now() if now is None else now
    if delegation.expires_at is not None and delegation.expires_at <= moment:
        raise DelegationError(
            f"the delegation expired at Unix time {delegation.expires_at}; sign a new one"
        )
    _check(delegation.user_pubkey, delegation.digest(), delegation.signature, "user")


# --- node → model --------------------------------------------------------------------


class ModelKeyStatement(_Statement):
    """ "Model key ``model_pubkey`` is authorized for ``model`` on node ``node_pubkey``"."""

    kind: Literal["model_key"] = "model_key"
    node_pubkey: str
    model: str = Field(min_length=1, max_length=300)
    model_pubkey: str
    created_at: int = Field(ge=0)
    signature: str = Field(pattern=SIGNATURE_PATTERN)


def authorize_model_key(
    node_key: NodeKey, model: str, model_pubkey: str, *, now: int | None = None
) -> ModelKeyStatement:
    """The node key authorizes a model key for one model."""
    draft = ModelKeyStatement.model_construct(
        node_pubkey=node_key.public_hex,
        model=model,
        model_pubkey=parse_public_key(model_pubkey),
        created_at=_now() if now is None else now,
        signature="0" * 128,
    )
    return ModelKeyStatement.model_validate(
        {**draft.model_dump(), "signature": node_key.sign(draft.digest()).hex()}
    )


def verify_model_key(
    statement: ModelKeyStatement, *, node_pubkey: str | None = None, model: str | None = None
) -> None:
    """Raise `DelegationError` unless the node key signed it (and it names ``node_pubkey``
    and ``model``, when given)."""
    if node_pubkey is not None and statement.node_pubkey != parse_public_key(node_pubkey):
        raise DelegationError("the model key was authorized by another node key")
    if model is not None and statement.model != model:
        raise DelegationError(f"the model key is authorized for {statement.model!r}, not {model!r}")
    _check(statement.node_pubkey, statement.digest(), statement.signature, "node")


# --- old node key → new node key ---------------------------------------------------------


class KeyRotation(_Statement):
    """ "Node key ``old_pubkey`` is replaced by ``new_pubkey``", signed by both keys."""

    _signature_fields: ClassVar[frozenset[str]] = frozenset({"old_signature", "new_signature"})

    kind: Literal["key_rotation"] = "key_rotation"
    old_pubkey: str
    new_pubkey: str
    created_at: int = Field(ge=0)
    old_signature: str = Field(pattern=SIGNATURE_PATTERN)
    new_signature: str = Field(pattern=SIGNATURE_PATTERN)


def rotation_statement(
    old_key: NodeKey, new_key: NodeKey, *, now: int | None = None
) -> KeyRotation:
    """Both keys sign the move from ``old_key`` to ``new_key``."""
    if old_key == new_key:
        raise DelegationError("the new node key is the old one; generate a fresh key")
    draft = KeyRotation.model_construct(
        old_pubkey=old_key.public_hex,
        new_pubkey=new_key.public_hex,
        created_at=_now() if now is None else now,
        old_signature="0" * 128,
        new_signature="0" * 128,
    )
    digest = draft.digest()
    return KeyRotation.model_validate(
        {
            **draft.model_dump(),
            "old_signature": old_key.sign(digest).hex(),
            "new_signature": new_key.sign(digest).hex(),
        }
    )


def verify_rotation(rotation: KeyRotation) -> None:
    """Raise `DelegationError` unless both the old and the new key signed the rotation."""
    if rotation.old_pubkey == rotation.new_pubkey:
        raise DelegationError("the rotation's new key is the old key")
    digest = rotation.digest()
    _check(rotation.old_pubkey, digest, rotation.old_signature, "old node")
    _check(rotation.new_pubkey, digest, rotation.new_signature, "new node")
