"""`infernet setup [--yes] [--json] [--control-plane URL]`: the node wizard (Book 2.4).

Steps, in the Book's order: registration token → detect hardware (GPU, tier, RAM) →
requirement checks → find an inference backend → default model for the tier, pulled with a
progress bar → node keypair (kept if one exists) → config file (mode 0600) → register with
the control plane. `--yes` accepts every default and never prompts (for scripts); `--json`
implies it, prints the steps on stderr and one JSON summary on stdout.

Decisions where the Book is silent or we differ:
- Ollama cannot be installed from here (it needs root and the network); when no backend
  answers, setup says so, prints the official install command, still writes the key and
  config and registers, and exits with status 5 so scripts notice. Run it again after
  installing Ollama.
- A failed requirement check asks "Continue anyway?" (default no); with `--yes` setup
  continues, and ends with exit 1 naming the failed checks.
- The default model is the tier's (72b / 14b / 7b / 7b / 1.5b), named for the detected
  backend. For llama.cpp, which installs GGUF paths or URLs, there is no default to pull:
  the prompt asks for one, and `--yes` keeps what the server already serves.
- A model that does not fit is not pulled under `--yes` (interactively setup asks first),
  and a refused or invalid model makes setup end with a non-zero exit saying so; a
  `--model` that is no model name at all is refused (exit 2) before anything is done.
- The tier is not written to the config: it is detected at every start, so a driver
  change cannot leave a stale tier behind. A `vram_tier` an earlier setup pinned to what
  the hardware says is removed; one that differs is kept (an explicit override) and shown.
- The backend's address is saved as found (an `OLLAMA_HOST` included), so a service
  started without that environment still reaches it.
- Setup on a stdin that is not a terminal, without `--yes`, stops at once and says what
  to pass; Ctrl-C at a prompt exits 130 with nothing written.
- The Book's log-rotation step is not done: the daemon rotates its own log.
- An existing config is updated, not replaced: node id, api key and other keys are kept.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import typer
from rich.console import Console

from infernet.backends.base import Backend
from infernet.backends.detect import BackendSettings, NoBackendDetected, detect_and_build
from infernet.backends.errors import BackendError
from infernet.cli import nodectx
from infernet.cli.common import Exit, console, err_console, fail, user_errors
from infernet.cli.doctor import LABELS
from infernet.cli.model import checked_name
from infernet.cli.pullbar import pull_bar
from infernet.cli.register import send_registration
from infernet.node.client import ControlPlaneError
from infernet.node.config import (
    DEFAULT_CONTROL_PLANE_URL,
    NodeConfig,
    default_config_path,
    load_config,
    save_config,
    update_config,
)
from infernet.node.hardware import HardwareReport
from infernet.node.models import MemoryBudget, ModelError, ModelManager, backend_name, served_name
from infernet.node.requirements import run_checks
from infernet.protocol.keys import NodeKey
from infernet.protocol.modelnames import names_for_backend
from infernet.protocol.modelrules import same_model_name
from infernet.protocol.vram import TIER_DEFAULT_MODEL, check_fit
from infernet.protocol.wire import RegisterResponse

OLLAMA_INSTALL = "curl -fsSL https://ollama.com/install.sh | sh"
T = TypeVar("T")


class Asker(Protocol):
    def text(self, prompt: str, default: str) -> str: ...
    def confirm(self, prompt: str, default: bool) -> bool: ...


class Defaults:
    """`--yes`: every prompt takes its default."""

    def text(self, prompt: str, default: str) -> str:
        return default

    def confirm(self, prompt: str, default: bool) -> bool:
        return default


class Terminal:
    """Prompts on the terminal; Ctrl-C exits 130 and a closed stdin says what to pass."""

    def _ask(self, prompt: Callable[[], T]) -> T:
        try:
            return prompt()
        except typer.Abort as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise fail("interrupted: nothing was written.", Exit.INTERRUPTED) from exc
            raise fail(NOT_A_TERMINAL, Exit.USAGE) from exc

    def text(self, prompt: str, default: str) -> str:
        return str(
            self._ask(lambda: typer.prompt(prompt, default=default, show_default=bool(default)))
        )

    def confirm(self, prompt: str, default: bool) -> bool:
        return bool(self._ask(lambda: typer.confirm(prompt, default=default)))


NOT_A_TERMINAL = (
    "setup asks questions, but stdin is not a terminal. Pass --yes to accept every default "
    "(choose with --registration-token, --model and --control-plane), or run it in a terminal."
)


@dataclass
class Wizard:
    config_path: Path
    control_plane: str | None
    ask: Asker
    report: HardwareReport
    token: str | None = None
    model: str | None = None
    exit_code: int = 0
    out: Console = console  # err_console under --json, so stdout carries only the summary
    problems: list[str] = field(default_factory=list)
    summary: dict[str, object] = field(default_factory=dict)

    def problem(self, text: str, code: Exit = Exit.FAILED) -> None:
        """Remember what is missing; the first non-generic exit code wins."""
        self.problems.append(text)
        if self.exit_code in (0, int(Exit.FAILED)):
            self.exit_code = int(code)

    def existing(self) -> NodeConfig:
        """The config to update; a malformed one raises ConfigError and is left alone."""
        return load_config(self.config_path) if self.config_path.exists() else NodeConfig()

    def show_hardware(self) -> None:
        self.out.print("Detecting hardware...")
        for gpu in self.report.gpus:
            self.out.print(f"  GPU: {gpu.name} ({gpu.vram_total_gib:.0f} GB VRAM)")
        if not self.report.gpus:
            self.out.print("  GPU: none detected")
        self.out.print(f"  Tier: {self.report.tier}")
        ram = f"{self.report.ram_total_gb:.0f} GB" if self.report.ram_total_gb else "unknown"
        self.out.print(f"  RAM: {ram}\n  CPU cores: {self.report.cpu_cores}")

    def checks(self) -> bool:
        self.out.print("Checking requirements...")
        results = run_checks(self.report)
        for result in results:
            self.out.print(f"  {LABELS[result.status]} {result.name}: {result.detail}")
            if result.hint and result.status != "pass":
                self.out.print(f"         {result.hint}")
        failed = [r.name for r in results if r.status == "fail"]
        self.summary["checks"] = [{"name": r.name, "status": r.status} for r in results]
        if not failed:
            return True
        if isinstance(self.ask, Defaults):
            self.problem(f"requirement checks failed: {', '.join(failed)} (see above)")
            return True
        return self.ask.confirm("A requirement check failed. Continue anyway?", False)

    def suggestion(self, backend: Backend, held: list[str]) -> str:
        if self.model:
            return self.model
        if backend.name == "llamacpp":
            return held[0] if held else ""
        tier_default = TIER_DEFAULT_MODEL[self.report.tier]
        return names_for_backend(tier_default, backend.name) or tier_default

    async def choose_model(self, backend: Backend) -> str | None:
        held = [m.name for m in await backend.list_models()]
        name = self.ask.text("Default model", self.suggestion(backend, held)).strip()
        if not name:
            self.out.print("  No model chosen; install one later with `infernet model install`.")
            return None
        try:
            source = backend_name(name, backend.name, strict=True)
        except ModelError as exc:
            self.out.print(f"  {exc}")
            self.problem(f"model {name} not pulled: {exc}")
            return None
        budget = MemoryBudget.from_report(self.report)
        fit = check_fit(served_name(source, backend.name), budget.gb) if budget else None
        if fit is not None and fit.verdict == "does_not_fit":
            self.out.print(f"  {fit.message}")
            if not self.ask.confirm("Pull it anyway?", False):
                self.problem(
                    f"model {name} not pulled: it does not fit this node's memory; choose "
                    "another with --model (`infernet model recommend` lists what fits)"
                )
                return None
        if not any(same_model_name(h, served_name(source, backend.name)) for h in held):
            await self.pull(backend, source)
        return served_name(source, backend.name)

    async def pull(self, backend: Backend, source: str) -> None:
        manager = ModelManager(backend, self.config_path)
        with pull_bar(f"Pulling {source}...", console=self.out) as bar:
            await manager.pull(source, bar)

    async def backend_and_model(self, config: NodeConfig) -> tuple[str | None, str | None]:
        self.out.print("Checking inference backends...")
        try:
            detection, backend = await detect_and_build(
                BackendSettings.from_sources(config.model_dump())
            )
        except NoBackendDetected as exc:
            for probe in exc.probes:
                self.out.print(f"  {probe.backend}: not found at {probe.host}")
            self.out.print(
                "  Infernet cannot install Ollama for you from here. Install it with the "
                f"official installer:\n    {OLLAMA_INSTALL}\n  (macOS: https://ollama.com/download),"
                " then run `infernet setup` again."
            )
            self.problem("no inference backend answered (see above)", Exit.BACKEND)
            return None, None
        setattr(config, f"{detection.backend}_host", detection.host)  # as found (OLLAMA_HOST)
        try:
            self.out.print(f"  {detection.backend}: found ({detection.reason})")
            return detection.backend, await self.choose_model(backend)
        except BackendError as exc:
            self.out.print(f"  [red]The model could not be pulled:[/] {exc}")
            self.problem(f"the model could not be pulled: {exc}", Exit.BACKEND)
            return detection.backend, None
        finally:
            await backend.close()

    def keypair(self, config: NodeConfig) -> NodeKey:
        self.out.print("Generating node keypair...")
        path = config.key_file()
        if path.exists():
            key = NodeKey.load(path)
            self.out.print(f"  Keeping the existing key in {path}")
        else:
            key = NodeKey.generate()
            key.save(path)
        self.out.print(f"  Public key: {key.npub}")
        self.summary["public_key"] = key.npub
        return key

    def write_config(
        self, config: NodeConfig, key: NodeKey, backend: str | None, model: str | None
    ) -> None:
        if self.control_plane:
            config.control_plane_url = self.control_plane
        config.public_key = key.public_hex
        if config.vram_tier == self.report.tier:
            config.vram_tier = None  # pinned by an earlier setup: detect it at each start
        elif config.vram_tier is not None:
            self.out.print(
                f"  Tier override kept: vram_tier={config.vram_tier} (the hardware says "
                f"{self.report.tier}); remove it with `infernet config set vram_tier ''`."
            )
        if backend is not None:
            config.backend = backend
        if model is not None and model not in config.served_models:
            config.served_models.append(model)
        save_config(config, self.config_path)
        self.out.print(f"  Config written to {self.config_path}")

    async def register(self, config: NodeConfig, key: NodeKey) -> None:
        self.out.print(f"Registering node with {config.control_plane_url}...")
        try:
            reply: RegisterResponse = await send_registration(config, key, self.token or None, None)
        except ControlPlaneError as exc:
            self.out.print(f"  [red]Not registered:[/] {exc}")
            self.problem(
                f"not registered with {config.control_plane_url}: {exc}", Exit.CONTROL_PLANE
            )
            return
        update_config(lambda c: setattr(c, "node_id", reply.node_id), self.config_path)
        self.out.print(f"  Node ID: {reply.node_id}\n  Status: {reply.status}")
        self.summary |= {"node_id": reply.node_id, "status": reply.status}

    async def run(self) -> int:
        self.out.print("Infernet Node Setup\n===================")
        config = self.existing()
        if self.token is None:
            self.token = self.ask.text(
                "Registration token (Enter to skip on an open control plane)", ""
            )
        self.show_hardware()
        if not self.checks():
            self.problem("stopped at the failed requirement checks; nothing was written")
            self.out.print("Stopped: nothing was written. Fix the checks marked [FAIL] first.")
            return self.exit_code
        backend, model = await self.backend_and_model(config)
        key = self.keypair(config)
        self.write_config(config, key, backend, model)
        await self.register(config, key)
        self.summary |= {"tier": self.report.tier, "backend": backend, "model": model}
        self.summary["control_plane_url"] = config.control_plane_url
        if not self.problems:
            self.out.print("Setup complete. Run `infernet start` to bring your node online.")
            return 0
        self.out.print("Setup finished, but:")
        for text in self.problems:
            self.out.print(f"  - {text}")
        self.out.print("Fix them and run `infernet setup` again.")
        return self.exit_code


def setup(
    yes: bool = typer.Option(False, "--yes", "-y", help="Accept every default; never prompt."),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="No prompts (implies --yes); steps on stderr, a JSON summary on stdout.",
    ),
    control_plane: str = typer.Option(
        None, "--control-plane", help=f"Control plane URL (default {DEFAULT_CONTROL_PLANE_URL})."
    ),
    model: str = typer.Option(None, "--model", help="Default model to pull (default: by tier)."),
    token: str = typer.Option(
        None, "--registration-token", help="One-time token from the dashboard (Nodes > Add Node)."
    ),
    config: Path = typer.Option(None, "--config", envvar="INFERNET_CONFIG", help="Config file."),
) -> None:
    """Set up this machine as a node: hardware, checks, backend, model, key, config, register."""
    unattended = yes or as_json
    if not unattended and not sys.stdin.isatty():
        raise fail(NOT_A_TERMINAL, Exit.USAGE)
    if model is not None:
        checked_name(model)
    with user_errors():
        path = config or default_config_path()
        wizard = Wizard(
            config_path=path,
            control_plane=control_plane,
            ask=Defaults() if unattended else Terminal(),
            report=nodectx.hardware(),
            token=token if token is not None else ("" if unattended else None),
            model=model,
            out=err_console if as_json else console,
        )
        code = asyncio.run(wizard.run())
    if as_json:
        body = {"ok": code == 0, "exit_code": code, "config_path": str(path)}
        typer.echo(json.dumps(body | wizard.summary | {"problems": wizard.problems}, indent=2))
    raise typer.Exit(code)
