"""`infernet logs [-f] [--lines N] [--since 1h] [--level warning]`: the daemon's log file.

Prints the last 200 entries by default; `-f` keeps printing new ones (through rotation)
until Ctrl-C. Reads the file `infernet start` writes for this config (`node/logfiles.py`
has the layout: one log per node config). `--json` prints `{"log_file", "entries": [{"at",
"level", "text"}]}`; with `-f`, one such entry object per line as lines arrive.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from infernet.cli.common import Exit, fail, user_errors
from infernet.node.config import ConfigError, default_config_path, load_effective_config
from infernet.node.logfiles import (
    LogEntry,
    LogQueryError,
    follow,
    parse_level,
    parse_since,
    read_log,
    resolve_log_path,
)


def log_path_for(config: Path | None) -> Path:
    path = config or default_config_path()
    try:
        configured = load_effective_config(path).log_file if path.exists() else None
    except ConfigError:
        configured = None  # the log may be exactly what explains a broken config
    return resolve_log_path(path, configured)


def _json(entry: LogEntry) -> str:
    at = entry.at.isoformat(sep=" ") if entry.at else None
    return json.dumps({"at": at, "level": entry.level, "text": entry.text})


def logs(
    follow_: bool = typer.Option(False, "-f", "--follow", help="Keep printing new lines."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    lines: int = typer.Option(200, "--lines", "-n", min=0, help="How many entries to show."),
    since: str = typer.Option(None, "--since", help="1h, 30m, 2d or '2026-04-30 12:00'."),
    level: str = typer.Option("debug", "--level", help="Lowest level shown: debug .. error."),
    config: Path = typer.Option(None, "--config", envvar="INFERNET_CONFIG", help="Config file."),
) -> None:
    """Show (and with -f follow) the node daemon's log."""
    path = log_path_for(config)
    try:
        start = parse_since(since) if since else None
        min_level = parse_level(level)
    except LogQueryError as exc:
        raise fail(str(exc), Exit.USAGE) from exc
    if not path.exists() and not follow_:
        raise fail(
            f"no daemon log at {path} yet. Start the node (`infernet start` or "
            "`infernet service start`) and it will write there.",
            Exit.FAILED,
        )
    with user_errors():
        found = (
            read_log(path, lines=lines, since=start, min_level=min_level) if path.exists() else []
        )
        if as_json and not follow_:
            body = {"log_file": str(path), "entries": [json.loads(_json(e)) for e in found]}
            typer.echo(json.dumps(body, indent=2))
            return
        for entry in found:
            typer.echo(_json(entry) if as_json else entry.text)
        if follow_:
            emit = (lambda line: typer.echo(_json(LogEntry.start(line)))) if as_json else typer.echo
            try:
                follow(path, emit, keep_going=lambda: True, min_level=min_level)
            except KeyboardInterrupt as exc:  # the way to stop following
                raise typer.Exit(int(Exit.INTERRUPTED)) from exc
