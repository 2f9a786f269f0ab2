"""`infernet model install | remove | list`: the node's model inventory (`recommend` and
`info` are in `cli/model_fit.py`).

Install and remove go through `node.models.ModelManager` (the daemon's queued commands take
the same path). After a change the running daemon is asked for a sync heartbeat (SIGUSR1,
see `node/status_file.py`), so the control plane knows within a second; when no daemon
runs, the control plane learns at `infernet start`, and the command says so.

A name that is no model name at all (empty, with spaces, 300 characters, `-x`) is refused
with exit 2 before the backend is even asked; a failed or interrupted install leaves the
config as it was (interrupted: exit 130). `list` with the backend down still prints what
the config says (`--json` too), each model's status `unknown`, the backend's state and
exit 5.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.filesize import decimal
from rich.table import Table

from infernet.backends.base import InstalledModel
from infernet.backends.detect import BackendSettings
from infernet.backends.errors import BackendError
from infernet.cli import nodectx
from infernet.cli.common import Exit, console, err_console, fail, user_errors
from infernet.cli.nodectx import CONFIG_OPTION, load, open_backend
from infernet.cli.pullbar import pull_bar
from infernet.node.config import NodeConfig
from infernet.node.models import MemoryBudget, ModelManager, NotInstalled, WontFit, WrongNameFormat
from infernet.node.status_file import request_sync, status_path
from infernet.protocol.modelnames import routing_key
from infernet.protocol.modelrules import InvalidModelName, canonical_model_name

app = typer.Typer(help="Manage the models this node serves.", no_args_is_help=True)
ENGINE_NAMES = {"ollama": "Ollama registry", "vllm": "Hugging Face", "sglang": "Hugging Face"}


def checked_name(name: str) -> str:
    """`name` if it can be a model name at all, else a usage error (exit 2)."""
    try:
        return canonical_model_name(name)
    except InvalidModelName as exc:
        raise fail(str(exc), Exit.USAGE) from exc


async def _sync(path: Path) -> bool:
    return await request_sync(status_path(path)) is not None


def _sync_line(synced: bool) -> str:
    if synced:
        return "Control plane updated (sync heartbeat)."
    return (
        "The daemon is not running (or did not answer), so the control plane learns of "
        "this at its next heartbeat; start it with `infernet start`."
    )


# --- install / remove ----------------------------------------------------------------------


async def install_one(
    path: Path, config: NodeConfig, name: str, verbose: bool = False, force: bool = False
) -> None:
    """Pull `name` and add it to served_models, printing progress and the outcome."""
    budget = MemoryBudget.from_report(await asyncio.to_thread(nodectx.hardware))
    async with open_backend(config) as backend:
        manager = ModelManager(backend, path, budget, lambda: _sync(path))
        source = ENGINE_NAMES.get(backend.name, backend.name)
        console.print(f"Pulling {name} from {source}...")
        with pull_bar(f"Pulling {name}", verbose=verbose) as bar:
            outcome = await manager.install(name, force=force, progress=bar)
    if not outcome.pulled:
        console.print(f"{outcome.name} was already in the {backend.name} backend.")
    for note in outcome.notes:
        console.print(f"Note: {note}")
    if outcome.added:
        console.print(f"Added {outcome.name} to served_models.")
    else:
        console.print(f"{outcome.name} is already in served_models.")
    console.print(_sync_line(outcome.synced))


def run_install(
    path: Path, config: NodeConfig, names: list[str], *, force: bool = False, verbose: bool = False
) -> None:
    """Install each name in turn, mapping refusals onto exit codes (2 for a name, 1 for a
    fit, 5 for the backend via `user_errors`, 130 for Ctrl-C: served_models keeps what
    finished)."""
    try:
        for name in names:
            asyncio.run(install_one(path, config, name, verbose, force))
    except WrongNameFormat as exc:
        raise fail(str(exc), Exit.USAGE) from exc
    except WontFit as exc:
        raise fail(f"{exc} Use --force to install it anyway.", Exit.FAILED) from exc
    except KeyboardInterrupt as exc:
        raise fail(
            "interrupted: served_models is unchanged for the model being pulled. Run the "
            "same command again to finish (llama.cpp downloads resume where they stopped).",
            Exit.INTERRUPTED,
        ) from exc


@app.command("install")
def install(
    name: str = typer.Argument(..., help="Ollama tag, Hugging Face id, or GGUF path/URL."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print each pull status."),
    force: bool = typer.Option(False, "--force", help="Install even if it does not fit."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Pull a model into the backend, add it to served_models, sync with the control plane."""
    checked_name(name)
    with user_errors():
        path, settings = load(config)
        run_install(path, settings, [name], force=force, verbose=verbose)


async def _remove(path: Path, config: NodeConfig, name: str) -> int:
    async with open_backend(config) as backend:
        outcome = await ModelManager(backend, path, None, lambda: _sync(path)).remove(name)
    if outcome.removed_from_config:
        console.print(f"Removed {', '.join(outcome.removed_from_config)} from served_models.")
    if outcome.deleted:
        console.print(f"Deleted the weights of {outcome.deleted} from {backend.name}.")
    console.print(_sync_line(outcome.synced))
    if outcome.delete_error:
        console.print(f"[yellow]The weights were not deleted:[/] {outcome.delete_error}")
        return int(Exit.BACKEND)
    return 0


@app.command("remove")
def remove(name: str = typer.Argument(...), config: Path = CONFIG_OPTION) -> None:
    """Remove a model from served_models, delete its weights, sync with the control plane."""
    with user_errors():
        path, settings = load(config)
        if name.strip() not in settings.served_models:  # a bad entry can still be removed
            checked_name(name)
        try:
            code = asyncio.run(_remove(path, settings, name))
        except NotInstalled as exc:
            raise fail(str(exc), Exit.FAILED) from exc
    raise typer.Exit(code)


# --- list ----------------------------------------------------------------------------------


def inventory(
    served: list[str], installed: list[InstalledModel] | None, backend: str | None
) -> list[dict[str, object]]:
    """One row per served model (loaded / installed / missing; `unknown` when the backend
    could not be asked: `installed` is None), then what the backend holds that
    served_models does not list (`served: false`)."""
    by_key = {routing_key(m.name): m for m in installed or []}
    rows: list[dict[str, object]] = []
    for name in served:
        held = by_key.pop(routing_key(name), None)
        status = "missing" if held is None else "loaded" if held.loaded else "installed"
        rows.append(
            {
                "name": name,
                "size_bytes": held.size_bytes if held else None,
                "backend": backend,
                "status": "unknown" if installed is None else status,
                "served": True,
            }
        )
    for held in by_key.values():
        status = "loaded" if held.loaded else "installed"
        size = held.size_bytes
        rows.append(
            {
                "name": held.name,
                "size_bytes": size,
                "backend": backend,
                "status": status,
                "served": False,
            }
        )
    return rows


async def _backend_inventory(
    config: NodeConfig,
) -> tuple[list[dict[str, object]], dict[str, object]]:
    """(rows, backend state); with the backend down, the config's rows and why (the
    backend's name is the configured one; None when it is auto-detected)."""
    try:
        async with open_backend(config) as backend:
            held = await backend.list_models()
            state: dict[str, object] = {
                "name": backend.name,
                "host": backend.host,
                "reachable": True,
            }
            return inventory(config.served_models, held, backend.name), state
    except BackendError as exc:
        name = BackendSettings.from_sources(config.model_dump()).backend
        state = {"name": name, "host": None, "reachable": False, "error": str(exc)}
        return inventory(config.served_models, None, name), state


def _size(value: object) -> str:
    return decimal(value) if isinstance(value, int) else "-"


@app.command("list")
def list_models(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Served models with their size, backend and status (loaded / installed / missing)."""
    with user_errors():
        _, settings = load(config)
        rows, backend = asyncio.run(_backend_inventory(settings))
    code = 0 if backend["reachable"] else int(Exit.BACKEND)
    if as_json:
        typer.echo(json.dumps({"models": rows, "backend": backend}, indent=2))
        raise typer.Exit(code)
    table = Table("Model", "Size", "Backend", "Status", box=None, pad_edge=False)
    for row in (r for r in rows if r["served"]):
        table.add_row(
            str(row["name"]),
            _size(row["size_bytes"]),
            str(row["backend"] or "-"),
            str(row["status"]),
        )
    console.print(table)
    extra = [str(r["name"]) for r in rows if not r["served"]]
    if extra:
        console.print(
            f"In the backend but not in served_models: {', '.join(extra)} "
            "(add one with `infernet model install NAME`)."
        )
    if code:
        err_console.print(f"[bold red]error:[/] {backend['error']}")
    raise typer.Exit(code)
