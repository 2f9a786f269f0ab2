"""`infernet node token | list | approve | revoke`: an account owner's say over their nodes.

These talk to the control plane with the owner's API key (``INFERNET_API_KEY``), never
with a node key: `token` creates a one-time ``inft_reg_…`` registration token for
`infernet register --token` on the new node; `list --pending` shows nodes waiting for
approval on networks that require it; `approve` lets one take jobs; `revoke` refuses a
node from now on (its job channel is closed at once).
"""

from __future__ import annotations

import json

import httpx
import typer

from infernet.cli.chat import DEFAULT_URL
from infernet.cli.common import Exit, console, fail

app = typer.Typer(help="Manage your nodes (with your API key).", no_args_is_help=True)

URL_OPTION = typer.Option(
    DEFAULT_URL, "--url", envvar="INFERNET_CONTROL_PLANE_URL", help="Control plane URL."
)
KEY_OPTION = typer.Option(..., "--api-key", envvar="INFERNET_API_KEY", help="Your API key.")


def _call(url: str, api_key: str, method: str, path: str) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            response = client.request(method, path)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the control plane at {url}: {exc}", Exit.CONTROL_PLANE) from exc
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = {"error": "bad_response", "error_message": response.text}
    if response.status_code >= 400:
        code = Exit.CONTROL_PLANE if response.status_code in (401, 403) else Exit.FAILED
        raise fail(f"{body.get('error')}: {body.get('error_message')}", code)
    return dict(body)


@app.command()
def token(url: str = URL_OPTION, api_key: str = KEY_OPTION) -> None:
    """Create a one-time node registration token (valid 24 h by default)."""
    body = _call(url, api_key, "POST", "/api/v1/nodes/registration-tokens")
    console.print(
        f"Registration token: [bold]{body['token']}[/] (one use, expires {body['expires_at']})\n"
        f"On the new node run: infernet register --token {body['token']}"
    )


@app.command("list")
def list_nodes(
    pending: bool = typer.Option(False, "--pending", help="Only nodes awaiting approval."),
    url: str = URL_OPTION,
    api_key: str = KEY_OPTION,
) -> None:
    """Your nodes and their status."""
    query = "?status=pending_approval" if pending else ""
    body = _call(url, api_key, "GET", f"/api/v1/nodes{query}")
    nodes = body.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        console.print("No nodes awaiting approval." if pending else "No nodes yet.")
        return
    for node in nodes:
        console.print(f"{node['id']}  {node['status']:<16} {node['public_key']}  {node['name']}")


@app.command()
def approve(
    node_id: str = typer.Argument(..., help="The node id (node_...)."),
    url: str = URL_OPTION,
    api_key: str = KEY_OPTION,
) -> None:
    """Let a node that is waiting for approval take jobs."""
    _decide(url, api_key, node_id, "approve")


@app.command()
def revoke(
    node_id: str = typer.Argument(..., help="The node id (node_...)."),
    url: str = URL_OPTION,
    api_key: str = KEY_OPTION,
) -> None:
    """Refuse a node's key from now on, everywhere; its job channel is closed at once."""
    _decide(url, api_key, node_id, "revoke")


def _decide(url: str, api_key: str, node_id: str, action: str) -> None:
    body = _call(url, api_key, "POST", f"/api/v1/nodes/{node_id}/{action}")
    console.print(f"Node {body['id']}: {body['status']}")
