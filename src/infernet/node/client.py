"""Signed HTTP calls from the node to the control plane."""

from __future__ import annotations

import json
from typing import TypeVar

import httpx
from pydantic import BaseModel

from infernet.httperrors import describe
from infernet.protocol.keys import NodeKey
from infernet.protocol.signing import sign_request

T = TypeVar("T", bound=BaseModel)


class ControlPlaneError(Exception):
    """The control plane refused or could not be reached; the message says which."""


class ControlPlaneClient:
    def __init__(self, base_url: str, key: NodeKey, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    def signed_headers(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        return sign_request(self._key, method, path, body)

    async def post(self, path: str, payload: BaseModel, reply: type[T]) -> T:
        return await self.call("POST", path, reply, payload.model_dump_json().encode())

    async def get(self, path: str, reply: type[T]) -> T:
        return await self.call("GET", path, reply)

    async def call(self, method: str, path: str, reply: type[T], body: bytes = b"") -> T:
        """A signed request; the answer parsed as `reply`, or ControlPlaneError."""
        headers = {"content-type": "application/json", **self.signed_headers(method, path, body)}
        try:
            response = await self._http.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ControlPlaneError(
                f"cannot reach the control plane at {self.base_url}: {describe(exc)}"
            ) from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("error_message", response.text)
            except json.JSONDecodeError:
                detail = response.text
            raise ControlPlaneError(f"{path} answered {response.status_code}: {detail}")
        return reply.model_validate_json(response.content)

    async def close(self) -> None:
        await self._http.aclose()
