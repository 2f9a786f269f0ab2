"""`infernet apikey ...`: your client API keys on a control plane (create, list, revoke).

Talks to the control plane's API with the key you already have (`INFERNET_API_KEY` or
`--api-key`), at `INFERNET_CONTROL_PLANE_URL` or `--url`. A new key is printed once, and
never again: the control plane keeps only its hash. (`infernet keys` is for node keys.)
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import httpx
import typer
from pydantic import BaseModel, ValidationError
from rich.table import Table

from infernet.cli.common import Exit, console, fail
from infernet.controlplane.schemas.accounts import KeyCreated, KeyList, KeyPublic

DEFAULT_URL = "http://127.0.0.1:8700"
T = TypeVar("T", bound=BaseModel)

app = typer.Typer(
    help="Your client API keys: create, list, revoke. (Node keys: `infernet keys`.)",
    no_args_is_help=True,
)

URL = typer.Option(
    DEFAULT_URL, "--url", envvar="INFERNET_CONTROL_PLANE_URL", help="Control plane URL."
)
API_KEY = typer.Option(
    ..., "--api-key", envvar="INFERNET_API_KEY", help="An API key of your account."
)
AS_JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


def _refusal(response: httpx.Response) -> typer.Exit:
    try:
        body = response.json()
        message = f"{body['error']}: {body['error_message']}"
    except (json.JSONDecodeError, KeyError, TypeError):
        message = f"HTTP {response.status_code}: {response.text[:200]}"
    refused = response.status_code in (401, 403, 429) or response.status_code >= 500
    return fail(message, Exit.CONTROL_PLANE if refused else Exit.FAILED)


def _call(shape: type[T], method: str, path: str, url: str, api_key: str, body: object = None) -> T:
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            response = client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the control plane at {url}: {exc}", Exit.CONTROL_PLANE) from exc
    if response.status_code >= 400:
        raise _refusal(response)
    try:
        return shape.model_validate(response.json())
    except (json.JSONDecodeError, ValidationError) as exc:
        raise fail(
            f"the control plane at {url} answered something unexpected: {exc}", Exit.CONTROL_PLANE
        ) from exc


def _limits(key: KeyPublic) -> str:
    return f"{key.limits.requests_per_minute}/min, {key.limits.requests_per_hour:,}/h"


def _moment(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else "never"


def _print_json(model: BaseModel) -> None:
    typer.echo(model.model_dump_json())


@app.command()
def create(
    name: str = typer.Option("", "--name", "-n", help="A name to recognise the key by."),
    per_minute: int = typer.Option(None, "--per-minute", min=1, help="Requests per minute."),
    per_hour: int = typer.Option(None, "--per-hour", min=1, help="Requests per hour."),
    url: str = URL,
    api_key: str = API_KEY,
    as_json: bool = AS_JSON,
) -> None:
    """Create a key for your account; it is shown this once."""
    body: dict[str, Any] = {"name": name}
    if per_minute is not None:
        body["requests_per_minute"] = per_minute
    if per_hour is not None:
        body["requests_per_hour"] = per_hour
    key = _call(KeyCreated, "POST", "/api/v1/keys", url, api_key, body)
    if as_json:
        _print_json(key)
        return
    console.print(f"API key [bold]{key.key}[/]")
    console.print(f"id {key.id}, name '{key.name}', limits {_limits(key)}")
    console.print("[yellow]Shown once: store it now. Only its hash is kept.[/]")


@app.command("list")
def list_keys(url: str = URL, api_key: str = API_KEY, as_json: bool = AS_JSON) -> None:
    """Every key of your account (never the secrets), revoked ones included."""
    keys = _call(KeyList, "GET", "/api/v1/keys", url, api_key)
    if as_json:
        _print_json(keys)
        return
    table = Table("ID", "Name", "Prefix", "Created", "Last used", "Limits", "Status")
    for key in keys.keys:
        status = "[red]revoked[/]" if key.revoked else "[green]active[/]"
        table.add_row(
            key.id,
            key.name,
            key.prefix + "…",
            _moment(key.created_at),
            _moment(key.last_used_at),
            _limits(key),
            status,
        )
    console.print(table)


@app.command()
def revoke(
    key_id: str = typer.Argument(..., help="The key's id (see `infernet apikey list`)."),
    url: str = URL,
    api_key: str = API_KEY,
    as_json: bool = AS_JSON,
) -> None:
    """Revoke a key: the control plane refuses it from the next request on."""
    key = _call(KeyPublic, "DELETE", f"/api/v1/keys/{key_id}", url, api_key)
    if as_json:
        _print_json(key)
    else:
        console.print(f"Revoked {key.id} ('{key.name}') at {key.revoked_at}.")
