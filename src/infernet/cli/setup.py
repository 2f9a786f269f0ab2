"""`infernet setup [--yes] [--control-plane URL]`: the node wizard (Book 2.4).

Steps, in the Book's order: registration token → detect hardware (GPU, tier, RAM) →
requirement checks → find an inference backend → default model for the tier, pulled with a
progress bar → node keypair (kept if one exists) → config file (mode 0600) → register with
the control plane. `--yes` accepts every default and never prompts (for scripts).

Decisions where the Book is silent or we differ:
- Ollama cannot be installed from here (it needs root and the network); when no backend
  answers, setup says so, prints the official install command, still writes the key and
  config and registers, and exits with status 5 so scripts notice. Run it again after
  installing Ollama.
- A failed requirement check asks "Continue anyway?" (default no); with `--yes` setup
  continues and the failure stays on screen.
- The default model is the tier's (72b / 14b / 7b / 7b / 1.5b), named for the detected
  backend. For llama.cpp, which installs GGUF paths or URLs, there is no default to pull:
  the prompt asks for one, and `--yes` keeps what the server already serves.
- A model that does not fit is not pulled under `--yes`; interactively setup asks first.
- The Book's log-rotation step is not done: the daemon logs to stdout, and the service
  manager (journald) rotates it.
- An existing config is updated, not replaced: node id, api key and other keys are kept.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import typer

from infernet.backends.base import Backend
from infernet.backends.detect import BackendSettings, NoBackendDetected, detect_and_build
from infernet.backends.errors import BackendError
from infernet.cli.common import Exit, console, user_errors
from infernet.cli.doctor import LABELS
from infernet.cli.model import hardware, pull_bar
from infernet.node.client import ControlPlaneClient, ControlPlaneError
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
from infernet.protocol.vram import TIER_DEFAULT_MODEL, check_fit
from infernet.protocol.wire import RegisterRequest, RegisterResponse

OLLAMA_INSTALL = "curl -fsSL https://ollama.com/install.sh | sh"


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
    def text(self, prompt: str, default: str) -> str:
        return str(typer.prompt(prompt, default=default, show_default=bool(default)))

    def confirm(self, prompt: str, default: bool) -> bool:
        return typer.confirm(prompt, default=default)


@dataclass
class Wizard:
    config_path: Path
    control_plane: str | None
    ask: Asker
    report: HardwareReport
    token: str | None = None
    model: str | None = None
    exit_code: int = 0

    def existing(self) -> NodeConfig:
        """The config to update; a malformed one raises ConfigError and is left alone."""
        return load_config(self.config_path) if self.config_path.exists() else NodeConfig()

    def show_hardware(self) -> None:
        console.print("Detecting hardware...")
        for gpu in self.report.gpus:
            console.print(f"  GPU: {gpu.name} ({gpu.vram_total_gib:.0f} GB VRAM)", highlight=False)
        if not self.report.gpus:
            console.print("  GPU: none detected")
        console.print(f"  Tier: {self.report.tier}", highlight=False)
        ram = f"{self.report.ram_total_gb:.0f} GB" if self.report.ram_total_gb else "unknown"
        console.print(f"  RAM: {ram}\n  CPU cores: {self.report.cpu_cores}", highlight=False)

    def checks(self) -> bool:
        console.print("Checking requirements...")
        results = run_checks(self.report)
        for result in results:
            console.print(
                f"  {LABELS[result.status]} {result.name}: {result.detail}", highlight=False
            )
            if result.hint and result.status != "pass":
                console.print(f"         {result.hint}", highlight=False)
        if any(r.status == "fail" for r in results):
            prompt = "A requirement check failed. Continue anyway?"
            return isinstance(self.ask, Defaults) or self.ask.confirm(prompt, False)
        return True

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
            console.print("  No model chosen; install one later with `infernet model install`.")
            return None
        try:
            source = backend_name(name, backend.name, strict=True)
        except ModelError as exc:
            console.print(f"  {exc}")
            return None
        budget = MemoryBudget.from_report(self.report)
        fit = check_fit(served_name(source, backend.name), budget.gb) if budget else None
        if fit is not None and fit.verdict == "does_not_fit":
            console.print(f"  {fit.message}")
            if not self.ask.confirm("Pull it anyway?", False):
                return None
        if served_name(source, backend.name) not in held:
            await self.pull(backend, source)
        return served_name(source, backend.name)

    async def pull(self, backend: Backend, source: str) -> None:
        manager = ModelManager(backend, self.config_path)
        with pull_bar(f"Pulling {source}...") as bar:
            await manager.pull(source, bar)

    async def backend_and_model(self, config: NodeConfig) -> tuple[str | None, str | None]:
        console.print("Checking inference backends...")
        try:
            detection, backend = await detect_and_build(
                BackendSettings.from_sources(config.model_dump())
            )
        except NoBackendDetected as exc:
            for probe in exc.probes:
                console.print(f"  {probe.backend}: not found at {probe.host}", highlight=False)
            console.print(
                "  Infernet cannot install Ollama for you from here. Install it with the "
                f"official installer:\n    {OLLAMA_INSTALL}\n  (macOS: https://ollama.com/download),"
                " then run `infernet setup` again."
            )
            self.exit_code = int(Exit.BACKEND)
            return None, None
        try:
            console.print(f"  {detection.backend}: found ({detection.reason})", highlight=False)
            return detection.backend, await self.choose_model(backend)
        except BackendError as exc:
            console.print(f"  [red]The model could not be pulled:[/] {exc}")
            self.exit_code = int(Exit.BACKEND)
            return detection.backend, None
        finally:
            await backend.close()

    def keypair(self, config: NodeConfig) -> NodeKey:
        console.print("Generating node keypair...")
        path = config.key_file()
        if path.exists():
            key = NodeKey.load(path)
            console.print(f"  Keeping the existing key in {path}")
        else:
            key = NodeKey.generate()
            key.save(path)
        console.print(f"  Public key: {key.npub}")
        return key

    def write_config(
        self, config: NodeConfig, key: NodeKey, backend: str | None, model: str | None
    ) -> None:
        if self.control_plane:
            config.control_plane_url = self.control_plane
        config.public_key = key.public_hex
        config.vram_tier = self.report.tier
        if backend is not None:
            config.backend = backend
        if model is not None and model not in config.served_models:
            config.served_models.append(model)
        save_config(config, self.config_path)
        console.print(f"  Config written to {self.config_path}")

    async def register(self, config: NodeConfig, key: NodeKey) -> None:
        console.print("Registering node...")
        client = ControlPlaneClient(config.control_plane_url, key)
        request = RegisterRequest(
            public_key=key.public_hex, name=config.name, registration_token=self.token or None
        )
        try:
            reply = await client.post("/api/v1/node/register", request, RegisterResponse)
        except ControlPlaneError as exc:
            console.print(
                f"  [red]Not registered:[/] {exc}\n"
                "  Run `infernet setup` again once the control plane answers."
            )
            self.exit_code = self.exit_code or int(Exit.CONTROL_PLANE)
            return
        finally:
            await client.close()
        update_config(lambda c: setattr(c, "node_id", reply.node_id), self.config_path)
        console.print(f"  Node ID: {reply.node_id}\n  Status: {reply.status}")

    async def run(self) -> int:
        console.print("Infernet Node Setup\n===================")
        config = self.existing()
        if self.token is None:
            self.token = self.ask.text(
                "Registration token (Enter to skip on an open control plane)", ""
            )
        self.show_hardware()
        if not self.checks():
            return int(Exit.FAILED)
        backend, model = await self.backend_and_model(config)
        key = self.keypair(config)
        self.write_config(config, key, backend, model)
        await self.register(config, key)
        if self.exit_code == 0:
            console.print("Setup complete. Run `infernet start` to bring your node online.")
        else:
            console.print(
                "Setup finished with the problems above; fix them and run `infernet setup` again."
            )
        return self.exit_code


def setup(
    yes: bool = typer.Option(False, "--yes", "-y", help="Accept every default; never prompt."),
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
    with user_errors():
        wizard = Wizard(
            config_path=config or default_config_path(),
            control_plane=control_plane,
            ask=Defaults() if yes else Terminal(),
            report=hardware(),
            token=token if token is not None else ("" if yes else None),
            model=model,
        )
        code = asyncio.run(wizard.run())
    raise typer.Exit(code)
