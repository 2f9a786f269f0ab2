"""FastAPI dependencies, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from infernet.controlplane.errors import Unauthorized
from infernet.controlplane.services import Services
from infernet.controlplane.store.accounts import account_for_key


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def current_account(request: Request, services: ServicesDep) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Missing bearer token: send 'Authorization: Bearer <api key>'.")
    account_id = await account_for_key(services.db, token.strip())
    if account_id is None:
        raise Unauthorized("Invalid or expired bearer token")
    return account_id


AccountDep = Annotated[str, Depends(current_account)]
