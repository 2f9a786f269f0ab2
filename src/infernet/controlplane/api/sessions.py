"""Your dashboard sessions: ``GET /api/v1/sessions`` lists those still live,
``DELETE /api/v1/sessions/{id}`` ends one at once (its cookie signs nobody in again).

A session lasts 12 hours after its last use and at most 7 days (store/sessions.py);
revoking the API key a session was opened with ends it too.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from infernet.controlplane.api.deps import AccountDep, ServicesDep
from infernet.controlplane.api.docs import errors
from infernet.controlplane.errors import NotFound
from infernet.controlplane.schemas.sessions import SessionList, SessionPublic
from infernet.controlplane.store import sessions
from infernet.controlplane.store.ids import iso

router = APIRouter(prefix="/api/v1/sessions", tags=["accounts"])


@router.get("", response_model=SessionList, responses=errors(401, 429))
async def list_sessions(account: AccountDep, services: ServicesDep) -> SessionList:
    found = await sessions.of_account(services.db, account)
    return SessionList(
        sessions=[
            SessionPublic(
                id=s.id,
                key_id=s.key_id,
                created_at=iso(s.created_at) or "",
                last_seen_at=iso(s.last_seen_at) or "",
                expires_at=iso(s.expires_at) or "",
            )
            for s in found
        ]
    )


@router.delete("/{session_id}", status_code=204, responses=errors(401, 404, 429))
async def end_session(session_id: str, account: AccountDep, services: ServicesDep) -> Response:
    if not await sessions.end_by_id(services.db, account, session_id):
        raise NotFound(f"No session {session_id} in your account.")
    return Response(status_code=204)
