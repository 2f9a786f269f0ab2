"""Compute Payment Receipts (Book §6.2): read one, and a client's optional signature.

`GET /api/v1/cprs/{id}` answers the client who paid for the job and the operator of the
node that ran it (its owning account, or the node itself, signed). The answer carries
everything needed to verify it offline with public keys only (`infernet receipts
verify`): the nine signed fields, the signatures, and the platform's public key (also
at `GET /api/v1/platform-key`, to pin independently).
"""

from __future__ import annotations

from fastapi import APIRouter

from infernet.controlplane.api.callers import PartyDep, payments_of
from infernet.controlplane.api.deps import AccountDep, ServicesDep
from infernet.controlplane.errors import BadRequest, NotFound
from infernet.controlplane.schemas.receipts import ClientSignature, CprPublic, PlatformKey
from infernet.controlplane.services import Services
from infernet.controlplane.store import nodes as node_store
from infernet.controlplane.store import receipts as store
from infernet.controlplane.store.ids import iso
from infernet.protocol.keys import verify_schnorr
from infernet.protocol.receipts import canonical_hash

router = APIRouter(prefix="/api/v1", tags=["receipts"])


def _public(found: store.StoredReceipt, platform_pubkey: str) -> CprPublic:
    r = found.receipt
    return CprPublic(
        **r.model_dump(),
        status=found.status,
        usage_source=found.usage_source,
        node_id=found.node_id,
        attempt=found.attempt,
        platform_pubkey=platform_pubkey,
        canonical_hash=canonical_hash(r).hex(),
        created_at=iso(found.created_at) or "",
    )


async def _visible(services: Services, receipt_id: str, who: PartyDep) -> store.StoredReceipt:
    found = await store.get_receipt(services.db, receipt_id)
    if found is not None:
        if who.node_id is not None and who.node_id == found.node_id:
            return found
        if who.account_id is not None and who.account_id == found.account_id:
            return found
        node = await node_store.node_by_id(services.db, found.node_id)
        if who.account_id is not None and node is not None and node["account_id"] == who.account_id:
            return found
    raise NotFound(f"No receipt {receipt_id} for you (only the client and the operator see it).")


@router.get("/platform-key", response_model=PlatformKey)
async def platform_key(services: ServicesDep) -> PlatformKey:
    """The public key that countersigns receipts (public: verifiers pin it)."""
    key = payments_of(services).platform_key
    return PlatformKey(public_key=key.public_hex, npub=key.npub)


@router.get("/cprs/{receipt_id}", response_model=CprPublic)
async def get_cpr(receipt_id: str, who: PartyDep, services: ServicesDep) -> CprPublic:
    money = payments_of(services)
    return _public(await _visible(services, receipt_id, who), money.platform_key.public_hex)


@router.post("/cprs/{receipt_id}/sign", response_model=CprPublic)
async def sign_cpr(
    receipt_id: str, body: ClientSignature, account: AccountDep, services: ServicesDep
) -> CprPublic:
    """Add the paying client's BIP-340 signature over the receipt's canonical hash."""
    money = payments_of(services)
    found = await store.get_receipt(services.db, receipt_id)
    if found is None or found.account_id != account:
        raise NotFound(f"No receipt {receipt_id} for a job of yours.")
    receipt = found.receipt
    if receipt.client_pubkey is None:
        raise BadRequest(
            "This receipt names no client key, so no client signature can be bound to it. "
            "Register one with PUT /api/v1/billing/client-key; receipts for later jobs name it."
        )
    try:
        valid = verify_schnorr(
            receipt.client_pubkey, canonical_hash(receipt), bytes.fromhex(body.signature)
        )
    except ValueError:
        valid = False
    if not valid:
        raise BadRequest(
            "signature: does not verify with the receipt's client_pubkey over its canonical "
            "hash (BIP-340 Schnorr, 64 bytes hex, over the canonical_hash field)."
        )
    await store.set_client_signature(services.db, receipt_id, body.signature.lower())
    updated = await store.get_receipt(services.db, receipt_id)
    assert updated is not None
    return _public(updated, money.platform_key.public_hex)
