"""`infernet service install|enable|start|stop|restart|status|logs|uninstall`.

Hands the node daemon to systemd (Linux) or launchd (macOS) so it starts at boot and
restarts after a crash; node/service.py writes the unit and drives the service manager.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path

import typer

from infernet.cli.common import Exit, console, fail
from infernet.node.config import default_config_path
from infernet.node.service import (
    ServiceError,
    ServiceManager,
    ServiceSpec,
    infernet_command,
)

app = typer.Typer(help="Run the node as a service (systemd or launchd).", no_args_is_help=True)
CONFIG_OPTION = typer.Option(None, "--config", envvar="INFERNET_CONFIG", help="Config file.")


def manager(config: Path | None, user: str | None = None) -> ServiceManager:
    system = sys.platform != "darwin" and os.geteuid() == 0
    home = Path(os.environ.get("HOME") or Path.home())
    explicit = config is not None and config != default_config_path()
    config_path = config.absolute() if explicit and config is not None else None
    spec = ServiceSpec(
        exec_start=infernet_command(),
        home=home,
        system=system,
        user=user or os.environ.get("SUDO_USER") or getpass.getuser(),
        config_path=config_path,
        log_path=(config or default_config_path()).parent / "daemon.log",
    )
    return ServiceManager(spec)


def _do(action: str, config: Path | None) -> None:
    service = manager(config)
    try:
        result = service.action(action)
    except ServiceError as exc:
        raise fail(str(exc), Exit.FAILED) from exc
    if result.stdout.strip():
        typer.echo(result.stdout.rstrip())
    if action == "status" and result.returncode != 0:
        raise typer.Exit(int(Exit.FAILED))
    if action != "status":
        console.print(f"infernet service {action}: done")


@app.command("install")
def install(
    config: Path = CONFIG_OPTION,
    user: str | None = typer.Option(
        None, help="User= of a system unit (default: you / $SUDO_USER)."
    ),
    print_only: bool = typer.Option(False, "--print", help="Print the unit, write nothing."),
) -> None:
    """Write the unit (plist on macOS) and enable it: the node starts now and at boot."""
    service = manager(config, user)
    if print_only:
        typer.echo(service.render())
        return
    path = service.write()
    console.print(f"Wrote {path}")
    try:
        service.enable()
    except ServiceError as exc:
        raise fail(str(exc), Exit.FAILED) from exc
    console.print("The node now starts at boot. `infernet service status`, `infernet logs -f`.")


@app.command("enable")
def enable(config: Path = CONFIG_OPTION) -> None:
    """Same as `install` (the Book's getting-started name)."""
    install(config=config, user=None, print_only=False)


@app.command("start")
def start(config: Path = CONFIG_OPTION) -> None:
    """Start the service."""
    _do("start", config)


@app.command("stop")
def stop(config: Path = CONFIG_OPTION) -> None:
    """Stop the service."""
    _do("stop", config)


@app.command("restart")
def restart(config: Path = CONFIG_OPTION) -> None:
    """Restart the service (the daemon re-reads its config)."""
    _do("restart", config)


@app.command("status")
def status(config: Path = CONFIG_OPTION) -> None:
    """The service manager's view of the daemon."""
    _do("status", config)


@app.command("logs")
def logs(
    config: Path = CONFIG_OPTION,
    follow: bool = typer.Option(True, "--follow/--no-follow", "-f", help="Keep following."),
) -> None:
    """Follow the service's journal (launchd: its log file)."""
    try:
        argv = manager(config).logs_command(follow)
    except ServiceError as exc:
        raise fail(str(exc), Exit.FAILED) from exc
    try:
        raise typer.Exit(subprocess.call(argv))
    except FileNotFoundError as exc:
        raise fail(f"{argv[0]} is not installed; use `infernet logs -f`.", Exit.FAILED) from exc
    except KeyboardInterrupt:
        return


@app.command("uninstall")
def uninstall(config: Path = CONFIG_OPTION) -> None:
    """Stop the service and remove it from boot (the CLI, config and keys stay)."""
    service = manager(config)
    try:
        removed = service.uninstall()
    except ServiceError as exc:
        raise fail(str(exc), Exit.FAILED) from exc
    console.print(
        f"Removed {service.path}" if removed else f"No service installed ({service.path})."
    )
