"""Registration tokens and the nodes an account owns (api/registration.py)."""

from __future__ import annotations

from pydantic import BaseModel


class RegistrationToken(BaseModel):
    token: str
    account_id: str
    expires_at: str


class OwnedNode(BaseModel):
    id: str
    name: str
    status: str  # pending_approval | revoked | online | degraded | offline
    public_key: str  # npub
    user_pubkey: str | None
    created_at: str
    # Claims the control plane caught above what it can check (usage past max_tokens or
    # the prompt, a malformed message): the count, and the latest reason and time.
    offences: int = 0
    last_offence: str | None = None
    last_offence_at: str | None = None


class OwnedNodes(BaseModel):
    nodes: list[OwnedNode]
