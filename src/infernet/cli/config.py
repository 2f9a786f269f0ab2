"""`infernet config set KEY VALUE | get KEY | show`: read and change the node's config file.

Every change is validated against `NodeConfig` and written atomically under the config
lock (`update_config`); a value that does not validate leaves the file byte-for-byte as it
was and says what is wrong. `show` and `get` print the effective value, with the source
(`file`, `env INFERNET_...` or `default`), since the daemon runs on file < environment <
flags. Values are typed like the environment overrides: lists comma-separated or JSON,
maps as JSON, an empty string clears an optional key.
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

app = typer.Typer(help="Read and change the node's config file.", no_args_is_help=True)

CONFIG_OPTION = typer.Option(None, "--config", envvar="INFERNET_CONFIG", help="Config file.")
SECRET_KEYS = frozenset({"api_key"})


def _check_url(key: str, value: object) -> None:
    is_url = key.endswith(("_url", "_host")) and isinstance(value, str)
    if is_url and not str(value).startswith(("http://", "https://")):
        raise ConfigError(f"{key}: '{value}' is not a URL; give http://host:port or https://.")


def set_value(path: Path, key: str, text: str) -> NodeConfig:
    """Validate and store one key; on any error the file is left untouched."""
    if key not in NodeConfig.model_fields:
        known = ", ".join(sorted(NodeConfig.model_fields))
        raise ConfigError(f"unknown config key '{key}'. Known keys: {known}.")
    value = coerce_value(key, text)
    _check_url(key, value)

    def change(config: NodeConfig) -> None:
        try:
            setattr(config, key, value)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(
                f"{key}: {err['msg']} (got {text!r}). The config file was not changed."
            ) from exc

    return update_config(change, path)


def _display(key: str, value: object) -> str:
    if key in SECRET_KEYS and value:
        return "(set)"
    return value if isinstance(value, str) else json.dumps(value)


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


@app.command("set")
def set_command(key: str, value: str, config: Path = CONFIG_OPTION) -> None:
    """Set KEY to VALUE (validated; the daemon picks it up on its next restart)."""
    path = config or default_config_path()
    with user_errors():
        stored = set_value(path, key, value)
    shown = _display(key, stored.model_dump(mode="json")[key])
    console.print(f"{key} = {shown}  ({path})")
    if env_var(key) in os.environ:
        console.print(f"[yellow]note:[/] {env_var(key)} is set and overrides this value.")
    console.print("Restart the daemon to apply it (`infernet service restart`).")


@app.command("get")
def get_command(key: str, config: Path = CONFIG_OPTION) -> None:
    """Print KEY's effective value."""
    path = config or default_config_path()
    with user_errors():
        values = effective(path)
    if key not in values:
        raise fail(f"unknown config key '{key}'; see `infernet config show`.", Exit.USAGE)
    typer.echo(_display(key, values[key][0]))


@app.command("show")
def show_command(config: Path = CONFIG_OPTION) -> None:
    """Every key with its effective value and where it comes from."""
    path = config or default_config_path()
    with user_errors():
        values = effective(path)
    console.print(f"Config file: {path}")
    for key, (value, source) in values.items():
        console.print(f"  {key:<24} {_display(key, value)}  [dim]({source})[/]", highlight=False)
