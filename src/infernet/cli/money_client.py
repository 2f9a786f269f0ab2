"""How the money commands reach the control plane: signed with the node key (operators,
from the node's config), or with a client API key (`INFERNET_API_KEY`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx

from infernet.cli.common import Exit, fail
from infernet.httperrors import describe
from infernet.node.config import load_effective_config
from infernet.protocol.keys import NodeKey
from infernet.protocol.signing import sign_request


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = {"error_message": response.text}
    if response.status_code >= 400:
        message = body.get("error_message", response.text) if isinstance(body, dict) else body
        code = Exit.CONTROL_PLANE if response.status_code in (401, 403) else Exit.FAILED
        raise fail(str(message), code)
    assert isinstance(body, dict)
    return body


def node_call(
    method: str, path: str, payload: dict[str, Any] | None = None, config: Path | None = None
) -> dict[str, Any]:
    """A request signed with this node's key (X-Infernet-Auth)."""
    settings = load_effective_config(config)
    key = NodeKey.load(settings.key_file())
    body = json.dumps(payload).encode() if payload is not None else b""
    headers = {"content-type": "application/json", **sign_request(key, method, path, body)}
    try:
        with httpx.Client(base_url=settings.control_plane_url, timeout=30) as client:
            response = client.request(method, path, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise fail(
            f"cannot reach the control plane at {settings.control_plane_url}: {describe(exc)}",
            Exit.CONTROL_PLANE,
        ) from exc
    return _answer(response)


def client_call(method: str, path: str, api_key: str, url: str) -> dict[str, Any]:
    """A request with a client API key (Bearer)."""
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            response = client.request(method, path, headers={"Authorization": f"Bearer {api_key}"})
    except httpx.HTTPError as exc:
        raise fail(
            f"cannot reach the control plane at {url}: {describe(exc)}", Exit.CONTROL_PLANE
        ) from exc
    return _answer(response)


def api_key_from_env() -> tuple[str, str] | None:
    key = os.environ.get("INFERNET_API_KEY")
    url = os.environ.get("INFERNET_CONTROL_PLANE_URL", "http://127.0.0.1:8700")
    return (key, url) if key else None
