"""`infernet config set KEY VALUE | get KEY | show`: read and change the node's config file.

Every change is validated against `NodeConfig` and written atomically under the config
lock (`update_config`); a value that does not validate leaves the file byte-for-byte as it
was, says what is wrong and exits 3. `show` and `get` print the effective value, with the
source (`file`, `env INFERNET_...` or `default`), since the daemon runs on file <
environment < flags; `--json` gives the same to scripts. Values are typed like the
environment overrides: lists comma-separated or JSON, maps as JSON, an empty string
clears an optional key; a negative number is a value, not an option.

Not settable: `node_id` (the control plane assigns it: `infernet register`) and
`public_key` (it follows the key file: `infernet keys rotate`). `vram_tier` takes only a
tier name (`protocol/tiers.py`), `served_models` only valid model names, stored in their
one spelling. After a change the command says what applies it: the running daemon's next
heartbeat (served_models), a restart through the service when one is installed, a restart
of the daemon otherwise, or nothing when no daemon runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from pydantic import ValidationError

from infernet.cli.common import Exit, console, fail, user_errors
from infernet.node.config import (
    ConfigError,
    NodeConfig,
    apply_env_overrides,
    coerce_value,
    default_config_path,
    env_var,
    load_config,
    update_config,
)
from infernet.node.lifecycle import daemon_pid
from infernet.protocol.modelrules import InvalidModelName, canonical_model_name

app = typer.Typer(help="Read and change the node's config file.", no_args_is_help=True)

CONFIG_OPTION = typer.Option(None, "--config", envvar="INFERNET_CONFIG", help="Config file.")
SECRET_KEYS = frozenset({"api_key"})
READ_ONLY = {
    "node_id": "the control plane assigns it; run `infernet register` to (re)register",
    "public_key": "it follows the node key file; rotate the key with `infernet keys rotate`",
}
LIVE_KEYS = frozenset({"served_models"})  # re-read by the daemon at every heartbeat


def _check_url(key: str, value: object) -> None:
    is_url = key.endswith(("_url", "_host")) and isinstance(value, str)
    if is_url and not str(value).startswith(("http://", "https://")):
        raise ConfigError(f"{key}: '{value}' is not a URL; give http://host:port or https://.")


def _checked(key: str, value: object) -> object:
    """Checks beyond the field's type: URLs, and model names in their one spelling."""
    _check_url(key, value)
    if key == "served_models" and isinstance(value, list):
        try:
            return list(dict.fromkeys(canonical_model_name(str(v)) for v in value))
        except InvalidModelName as exc:
            raise ConfigError(f"served_models: {exc} The config file was not changed.") from exc
    return value


def set_value(path: Path, key: str, text: str) -> NodeConfig:
    """Validate and store one key; on any error the file is left untouched."""
    if key in READ_ONLY:
        raise ConfigError(f"{key} cannot be set by hand: {READ_ONLY[key]}.")
    if key not in NodeConfig.model_fields:
        known = ", ".join(sorted(k for k in NodeConfig.model_fields if k not in READ_ONLY))
        raise ConfigError(f"unknown config key '{key}'. Known keys: {known}.")
    value = _checked(key, coerce_value(key, text))

    def change(config: NodeConfig) -> None:
        try:
            setattr(config, key, value)
        except ValidationError as exc:
            msg = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            raise ConfigError(
                f"{key}: {msg} (got {text!r}). The config file was not changed."
            ) from exc

    return update_config(change, path)


def _display(key: str, value: object) -> str:
    if key in SECRET_KEYS and value:
        return "(set)"
    return value if isinstance(value, str) else json.dumps(value)


def _shown(key: str, value: object) -> object:
    """The value for --json: secrets masked, the rest as they are."""
    return "(set)" if key in SECRET_KEYS and value else value


def effective(path: Path) -> dict[str, tuple[object, str]]:
    """key -> (effective value, where it comes from)."""
    config = load_config(path)
    in_file = set(json.loads(path.read_text(encoding="utf-8") or "{}"))
    merged = apply_env_overrides(config).model_dump(mode="json")
    result: dict[str, tuple[object, str]] = {}
    for key in NodeConfig.model_fields:
        if env_var(key) in os.environ:
            source = f"env {env_var(key)}"
        else:
            source = "file" if key in in_file else "default"
        result[key] = (merged[key], source)
    return result


def _service_installed(path: Path) -> bool:
    from infernet.cli.service import manager  # the unit's place depends on user and OS

    return manager(path).path.exists()


def apply_hint(path: Path, key: str) -> str:
    """What makes a change take effect, given what runs on this machine right now."""
    running = daemon_pid(path) is not None
    if key in LIVE_KEYS and running:
        return "The running daemon advertises it at its next heartbeat."
    if _service_installed(path):
        return "Restart the daemon to apply it: `infernet service restart`."
    if running:
        return (
            "Restart the daemon to apply it: stop it (`infernet stop`, or Ctrl-C where it "
            "runs) and start it again."
        )
    return "No daemon is running; it takes this value when it starts (`infernet start`)."


@app.command("set", context_settings={"ignore_unknown_options": True})
def set_command(key: str, value: str, config: Path = CONFIG_OPTION) -> None:
    """Set KEY to VALUE (validated; negative numbers are values: `set KEY -1`)."""
    path = config or default_config_path()
    with user_errors():
        stored = set_value(path, key, value)
    shown = _display(key, stored.model_dump(mode="json")[key])
    console.print(f"{key} = {shown}  ({path})")
    if env_var(key) in os.environ:
        console.print(f"[yellow]note:[/] {env_var(key)} is set and overrides this value.")
    console.print(apply_hint(path, key))


@app.command("get")
def get_command(
    key: str,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Print KEY's effective value."""
    path = config or default_config_path()
    if key not in NodeConfig.model_fields:
        raise fail(f"unknown config key '{key}'; see `infernet config show`.", Exit.USAGE)
    with user_errors():
        value, source = effective(path)[key]
    if as_json:
        typer.echo(json.dumps({"key": key, "value": _shown(key, value), "source": source}))
        return
    typer.echo(_display(key, value))


@app.command("show")
def show_command(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Every key with its effective value and where it comes from."""
    path = config or default_config_path()
    with user_errors():
        values = effective(path)
    if as_json:
        keys = {k: {"value": _shown(k, v), "source": s} for k, (v, s) in values.items()}
        typer.echo(json.dumps({"config_file": str(path), "keys": keys}, indent=2))
        return
    console.print(f"Config file: {path}")
    for key, (value, source) in values.items():
        console.print(f"  {key:<24} {_display(key, value)}  [dim]({source})[/]")
