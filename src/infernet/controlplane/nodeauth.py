"""From a verified node key to the node it speaks for, or a 401 saying exactly why not.

`RequestVerifier` (protocol/signing.py) proves who signed a request; this module decides
whether that key may act: the node's current key, or a rotated-out key still inside its
grace period, of a node that is not revoked. Every refusal is an `Unauthorized` in the
Book's envelope whose text says what happened and what to do, plus a stable tag in the
``X-Infernet-Auth-Error`` header for scripts and metrics:

    missing, malformed, skew, bad_signature, replay   (the signature itself; signing.py)
    unknown_key, revoked, rotated                      (the key's standing; here)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.errors import Unauthorized
from infernet.controlplane.ids import iso, utcnow
from infernet.controlplane.store import node_keys
from infernet.protocol.keys import npub_from_public_hex

AUTH_ERROR_HEADER = "X-Infernet-Auth-Error"


def refused(code: str, reason: str) -> Unauthorized:
    """A 401 with the Book's envelope and the refusal's tag in `AUTH_ERROR_HEADER`."""
    return Unauthorized(reason, headers={AUTH_ERROR_HEADER: code})


@dataclass(frozen=True)
class NodeIdentity:
    node_id: str
    public_key: str  # the node's current key (differs from the signer during a grace period)
    account_id: str | None
    approved: bool
    user_pubkey: str | None
    signer: str


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _revoked(row: Mapping[str, Any]) -> Unauthorized:
    when = iso(row["revoked_at"]) or "an earlier time"
    return refused(
        "revoked",
        f"revoked: node {row['id']}'s key was revoked by its owner at {when}; this node "
        "can no longer act. Generate a new key (`infernet init --force` after moving the "
        "old key away) and register again with a token from the owner.",
    )


def _identity(row: Mapping[str, Any], signer: str) -> NodeIdentity:
    return NodeIdentity(
        node_id=str(row["id"]),
        public_key=str(row["public_key"]),
        account_id=row["account_id"],
        approved=bool(row["approved"]),
        user_pubkey=row["user_pubkey"],
        signer=signer,
    )


async def identify(db: AsyncEngine, signer: str, now: datetime | None = None) -> NodeIdentity:
    """The node ``signer`` may act for, or `Unauthorized` (unknown, revoked, rotated)."""
    row = await node_keys.node_for_current_key(db, signer)
    if row is not None:
        if row["revoked"]:
            raise _revoked(row)
        return _identity(row, signer)
    retired = await node_keys.retired_key(db, signer)
    node = await node_keys.node_row(db, retired["node_id"]) if retired else None
    if retired is None or node is None:
        raise refused(
            "unknown_key",
            "unknown key: no node is registered with this key; run `infernet register` "
            "(with `--token inft_reg_...` if the control plane asks for one).",
        )
    if node["revoked"]:
        raise _revoked(node)
    until = _aware(retired["valid_until"])
    if (now or utcnow()) >= until:
        raise refused(
            "rotated",
            f"rotated: this key of node {node['id']} was replaced by "
            f"{npub_from_public_hex(retired['replaced_by'])} and its grace period ended at "
            f"{iso(until)}. Restart the daemon so it signs with the new key file.",
        )
    return _identity(node, signer)
