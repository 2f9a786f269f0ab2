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
from infernet.controlplane.store import node_keys
from infernet.controlplane.store.ids import iso, utcnow
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
    offences: int = 0


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
        offences=int(row["offences"] or 0),
    )


_TRUST_COLUMNS = (
    "id",
    "public_key",
    "account_id",
    "approved",
    "user_pubkey",
    "revoked",
    "offences",
)


@dataclass(frozen=True)
class _Standing:
    """What the database says about one key: its node's trust columns, and for a
    rotated-out key the retirement row (None for the node's current key)."""

    node: Mapping[str, Any]
    retired: Mapping[str, Any] | None = None


async def _look_up(db: AsyncEngine, signer: str) -> _Standing | None:
    row = await node_keys.node_for_current_key(db, signer)
    if row is not None:
        return _Standing(_trimmed(row))
    retired = await node_keys.retired_key(db, signer)
    node = await node_keys.node_row(db, retired["node_id"]) if retired else None
    if retired is None or node is None:
        return None
    return _Standing(_trimmed(node), dict(retired))


def _trimmed(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in (*_TRUST_COLUMNS, "revoked_at")}


def _decide(standing: _Standing | None, signer: str, now: datetime | None) -> NodeIdentity:
    if standing is None:
        raise refused(
            "unknown_key",
            "unknown key: no node is registered with this key; run `infernet register` "
            "(with `--token inft_reg_...` if the control plane asks for one).",
        )
    node, retired = standing.node, standing.retired
    if node["revoked"]:
        raise _revoked(node)
    if retired is not None:
        until = _aware(retired["valid_until"])
        if (now or utcnow()) >= until:
            raise refused(
                "rotated",
                f"rotated: this key of node {node['id']} was replaced by "
                f"{npub_from_public_hex(retired['replaced_by'])} and its grace period ended "
                f"at {iso(until)}. Restart the daemon so it signs with the new key file.",
            )
    return _identity(node, signer)


async def identify(db: AsyncEngine, signer: str, now: datetime | None = None) -> NodeIdentity:
    """The node ``signer`` may act for, or `Unauthorized` (unknown, revoked, rotated).
    Always asks the database; hot paths use `IdentityCache.identify`."""
    return _decide(await _look_up(db, signer), signer, now)


class IdentityCache:
    """`identify` answered from memory; the database is asked only on a miss.

    Entries are the trust columns of a key's node (and, for a rotated-out key, its grace
    period, checked against the clock on every use). Whatever changes them (approval,
    revocation, rotation, registration) calls `forget` for that node on every replica
    (`controlplane/nodes/cache.py` broadcasts it on the bus), and a bus resync forgets
    everything. A lookup that raced with a `forget` is not stored, so a stale row never
    outlives the change that made it stale. Unknown keys are not cached. At most
    ``max_entries`` keys are kept; the oldest are dropped first.
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._by_key: dict[str, _Standing] = {}
        self._keys_of: dict[str, set[str]] = {}  # node id -> its cached keys
        self._generation = 0  # bumped by every forget
        self._forgotten_at: dict[str, int] = {}  # node id -> generation of its last forget
        self._cleared_at = 0  # generation of the last forget-everything

    def __len__(self) -> int:
        return len(self._by_key)

    async def identify(
        self, db: AsyncEngine, signer: str, now: datetime | None = None
    ) -> NodeIdentity:
        standing = self._by_key.get(signer)
        if standing is None:
            started = self._generation
            standing = await _look_up(db, signer)
            if standing is not None and not self._forgotten_since(standing, started):
                self._store(signer, standing)
        return _decide(standing, signer, now)

    def _forgotten_since(self, standing: _Standing, generation: int) -> bool:
        node_id = str(standing.node["id"])
        last = max(self._cleared_at, self._forgotten_at.get(node_id, -1))
        return last > generation

    def forget(self, node_id: str | None) -> None:
        """Drop what is cached about ``node_id`` (None: about every node)."""
        self._generation += 1
        if node_id is None:
            self._by_key.clear()
            self._keys_of.clear()
            self._forgotten_at.clear()
            self._cleared_at = self._generation
            return
        self._forgotten_at[node_id] = self._generation
        for key in self._keys_of.pop(node_id, set()):
            self._by_key.pop(key, None)

    def _store(self, signer: str, standing: _Standing) -> None:
        while len(self._by_key) >= self._max_entries:
            oldest = next(iter(self._by_key))
            old = self._by_key.pop(oldest)
            keys = self._keys_of.get(str(old.node["id"]))
            if keys is not None:
                keys.discard(oldest)
        self._by_key[signer] = standing
        self._keys_of.setdefault(str(standing.node["id"]), set()).add(signer)
