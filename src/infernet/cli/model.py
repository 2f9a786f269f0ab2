"""`infernet model install | remove | list | recommend | info`: the node's model inventory.

Install and remove go through `node.models.ModelManager` (the daemon's queued commands take
the same path). After a change the running daemon is asked for a sync heartbeat (SIGUSR1,
see `node/status_file.py`), so the control plane knows within a second; when no daemon
runs, the control plane learns at `infernet start`, and the command says so.

Progress: a rich bar with percent, bytes done / total and rate, like the Book's
`██████████████████░░ 89% (7.2 GB / 8.1 GB) 45 MB/s`; Ollama pulls several layers, and
the bar shows their sum. `--verbose` also prints each status line the backend reports.

`recommend --install-all` installs, in the recommended order, the models that fit in
memory *together* (the seed's advice for keeping models hot), not every model that fits
on its own, which could be hundreds of GB.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from infernet.backends.base import Backend, InstalledModel, PullProgress
from infernet.backends.detect import BackendSettings, detect_and_build
from infernet.cli.common import Exit, console, fail, user_errors
from infernet.node.config import NodeConfig, default_config_path, load_config
from infernet.node.hardware import HardwareReport, detect_hardware
from infernet.node.models import (
    MemoryBudget,
    ModelManager,
    NotInstalled,
    WontFit,
    WrongNameFormat,
)
from infernet.node.status_file import request_sync, status_path
from infernet.protocol.modelnames import names_for_backend, routing_key
from infernet.protocol.vram import (
    BYTES_PER_PARAM,
    FIT_HEADROOM,
    check_fit,
    estimate_vram,
    recommend,
)

app = typer.Typer(help="Manage the models this node serves.", no_args_is_help=True)
CONFIG_OPTION = typer.Option(
    None, "--config", envvar="INFERNET_CONFIG", help="Config file (default: the XDG path)."
)
ENGINE_NAMES = {"ollama": "Ollama registry", "vllm": "Hugging Face", "sglang": "Hugging Face"}


# --- shared by the node commands (setup, doctor, status) -----------------------------------


@asynccontextmanager
async def open_backend(config: NodeConfig) -> AsyncIterator[Backend]:
    """The configured (or detected) backend, closed afterwards; raises BackendError."""
    _, backend = await detect_and_build(BackendSettings.from_sources(config.model_dump()))
    try:
        yield backend
    finally:
        await backend.close()


class SizeColumn(ProgressColumn):
    """`(7.2 GB / 8.1 GB)` in decimal units, as the Book prints it."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text(f"({decimal(int(task.completed))})")
        return Text(f"({decimal(int(task.completed))} / {decimal(int(task.total))})")


@dataclass
class PullBar:
    """Feeds backend `PullProgress` into one rich bar (layers summed); prints statuses
    when verbose. The bar appears with the first progress the backend reports, so a model
    already pulled shows none."""

    label: str
    verbose: bool = False
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)
    last_status: str = ""
    progress: Progress | None = None
    task: TaskID | None = None

    def _bar(self) -> tuple[Progress, TaskID]:
        if self.progress is None or self.task is None:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=20, complete_style="white", finished_style="white"),
                TextColumn("{task.percentage:>3.0f}%"),
                SizeColumn(),
                TransferSpeedColumn(),
                console=console,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=None)
        return self.progress, self.task

    def __call__(self, step: PullProgress) -> None:
        progress, task = self._bar()
        if step.total:
            self.layers[step.status] = (step.completed or 0, step.total)
            done = sum(c for c, _ in self.layers.values())
            total = sum(t for _, t in self.layers.values())
            progress.update(task, completed=done, total=total)
        if self.verbose and step.status != self.last_status:
            progress.console.print(f"  {step.status}")
        self.last_status = step.status
        if step.status == "success":
            finished = sum(t for _, t in self.layers.values())
            progress.update(task, completed=finished, total=finished or None)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextmanager
def pull_bar(label: str, *, verbose: bool = False) -> Iterator[PullBar]:
    bar = PullBar(label, verbose)
    try:
        yield bar
    finally:
        bar.close()


def hardware() -> HardwareReport:
    return detect_hardware()


def load(config: Path | None) -> tuple[Path, NodeConfig]:
    path = config or default_config_path()
    return path, load_config(path)


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


async def _install(path: Path, config: NodeConfig, name: str, verbose: bool, force: bool) -> None:
    budget = MemoryBudget.from_report(await asyncio.to_thread(hardware))
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
    added = "Added" if outcome.added else "Already listed:"
    console.print(f"{added} {outcome.name} in served_models.\n{_sync_line(outcome.synced)}")


@app.command("install")
def install(
    name: str = typer.Argument(..., help="Ollama tag, Hugging Face id, or GGUF path/URL."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print each pull status."),
    force: bool = typer.Option(False, "--force", help="Install even if it does not fit."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Pull a model into the backend, add it to served_models, sync with the control plane."""
    with user_errors():
        path, settings = load(config)
        try:
            asyncio.run(_install(path, settings, name, verbose, force))
        except WrongNameFormat as exc:
            raise fail(str(exc), Exit.USAGE) from exc
        except WontFit as exc:
            raise fail(str(exc), Exit.FAILED) from exc
        except KeyboardInterrupt as exc:
            raise fail(
                "interrupted: served_models is unchanged. Run the same command again to "
                "finish (llama.cpp downloads resume where they stopped).",
                Exit.FAILED,
            ) from exc


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
        try:
            code = asyncio.run(_remove(path, settings, name))
        except NotInstalled as exc:
            raise fail(str(exc), Exit.FAILED) from exc
    raise typer.Exit(code)


# --- list ----------------------------------------------------------------------------------


def inventory(
    served: list[str], installed: list[InstalledModel], backend: str
) -> list[dict[str, object]]:
    """One row per served model (loaded / installed / missing), then what the backend holds
    that served_models does not list (`served: false`)."""
    by_key = {routing_key(m.name): m for m in installed}
    rows: list[dict[str, object]] = []
    for name in served:
        held = by_key.pop(routing_key(name), None)
        status = "missing" if held is None else "loaded" if held.loaded else "installed"
        size = held.size_bytes if held else None
        rows.append(
            {"name": name, "size_bytes": size, "backend": backend, "status": status, "served": True}
        )
    for held in by_key.values():
        status = "loaded" if held.loaded else "installed"
        rows.append(
            {
                "name": held.name,
                "size_bytes": held.size_bytes,
                "backend": backend,
                "status": status,
                "served": False,
            }
        )
    return rows


async def _list(config: NodeConfig) -> list[dict[str, object]]:
    async with open_backend(config) as backend:
        return inventory(config.served_models, await backend.list_models(), backend.name)


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
        rows = asyncio.run(_list(settings))
    if as_json:
        typer.echo(json.dumps({"models": rows}, indent=2))
        return
    table = Table("Model", "Size", "Backend", "Status", box=None, pad_edge=False)
    for row in (r for r in rows if r["served"]):
        table.add_row(
            str(row["name"]), _size(row["size_bytes"]), str(row["backend"]), str(row["status"])
        )
    console.print(table)
    extra = [str(r["name"]) for r in rows if not r["served"]]
    if extra:
        console.print(
            f"In the backend but not in served_models: {', '.join(extra)} "
            "(add one with `infernet model install NAME`)."
        )


# --- recommend / info ----------------------------------------------------------------------


def fit_together(names: list[tuple[str, float]], budget_gb: float) -> list[str]:
    """Greedy, in order: the names whose estimates fit in `budget_gb` all at once (with the
    same 10 % headroom as a single model's fit check)."""
    chosen, used = [], 0.0
    for name, need in names:
        if used + need <= budget_gb * FIT_HEADROOM:
            chosen.append(name)
            used += need
    return chosen


def _recommendations(report: HardwareReport, backend: str) -> tuple[Table, list[tuple[str, float]]]:
    table = Table("Model", "Params", "Quant", "Needs", "", box=None, pad_edge=False)
    installable: list[tuple[str, float]] = []
    for pick in recommend(report.tier, report.vram_total_gib):
        known = names_for_backend(pick.entry.key, backend)
        name = known or f"{pick.entry.key} (no {backend} name)"
        note = "tier default" if pick.is_tier_default else ""
        size = f"{pick.estimate_gb:.1f} GB"
        table.add_row(name, f"{pick.entry.params_b:g}B", pick.quant.upper(), size, note)
        if known and backend != "llamacpp":  # llama.cpp installs need a path or URL
            installable.append((known, pick.estimate_gb))
    return table, installable


async def _install_all(path: Path, config: NodeConfig, names: list[str]) -> None:
    for name in names:
        await _install(path, config, name, verbose=False, force=False)


@app.command("recommend")
def recommend_models(
    install_all: bool = typer.Option(
        False, "--install-all", help="Install the recommended models that fit together."
    ),
    config: Path = CONFIG_OPTION,
) -> None:
    """Models suited to this node's tier and memory, the tier's default first."""
    with user_errors():
        path, settings = load(config)
        report = hardware()
        budget = MemoryBudget.from_report(report)
        backend = settings.backend or "ollama"
        memory = f"; {budget.source} {budget.gb:.1f} GB" if budget else ""
        console.print(f"Tier {report.tier}{memory}; names for {backend}:")
        table, installable = _recommendations(report, backend)
        console.print(table)
        if not install_all:
            return
        chosen = fit_together(installable, budget.gb if budget else 0.0)
        if not chosen:
            raise fail(f"none of these can be installed by name on {backend}.", Exit.FAILED)
        console.print(f"Installing {', '.join(chosen)} (they fit in memory together).")
        asyncio.run(_install_all(path, settings, chosen))


def describe(name: str) -> list[str]:
    """What `model info` prints about the model itself (no hardware involved)."""
    estimate = estimate_vram(name)
    if estimate is None:
        return []
    default = " (the default for this name)" if estimate.spec.quant_is_default else ""
    weights = ", ".join(
        f"{q.upper()} {estimate.params_b * BYTES_PER_PARAM[q]:.1f} GB"
        for q in ("fp16", "int8", "q4")
    )
    lines = [
        f"Model:        {name}  (routing key {estimate.spec.key})",
        f"Parameters:   {estimate.params_b:g}B",
        f"Quantization: {estimate.quant}{default}",
        f"VRAM needed:  {estimate.total_gb:.1f} GB ({estimate.weights_gb:.1f} GB weights"
        f" + {estimate.overhead_gb:.1f} GB KV cache and runtime)",
        f"Weights at:   {weights}",
        "Names:",
    ]
    lines += [
        f"  {e:<9} {names_for_backend(name, e) or '-'}" for e in ("ollama", "vllm", "llamacpp")
    ]
    return lines


@app.command("info")
def info(
    name: str = typer.Argument(..., help="Any backend's name, e.g. hf:Qwen/Qwen2.5-7B-Instruct"),
) -> None:
    """The VRAM estimate for a model, and whether it fits this node."""
    for line in describe(name):
        console.print(line, highlight=False)
    report = hardware()
    budget = MemoryBudget.from_report(report)
    where = f"This node ({report.tier}, {budget.source})" if budget else "This node"
    console.print(f"{where}: {check_fit(name, budget.gb if budget else 0.0).message}")
