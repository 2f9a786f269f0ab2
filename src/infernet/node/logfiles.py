"""Where the daemon's log file lives, and reading it back: last lines, since, level, follow.

Layout (Book §0.1, variant B): `/var/log/infernet/daemon.log` when that directory is
writable (a system install), else `daemon.log` beside the config file
(`~/.config/infernet/daemon.log`); the `log_file` config key (or `INFERNET_LOG_FILE`)
overrides both. One log per node: several daemons on one host (one config each) must not
write, nor `infernet logs` read, one another's lines, so only the standard config
(`config.json` in its XDG directory) logs to `daemon.log` in the system directory; any
other config gets `daemon-<8 hex of its absolute path>.log` there, and beside a config
not named `config.json` the log is `<config stem>.daemon.log`. The daemon rotates the
file itself at 50 MB and keeps 5 old ones (`daemon.log.1` newest ... `daemon.log.5`
oldest), so no logrotate setup is needed.

Entries are the formatter's lines (`infernet/logs.py`): `[YYYY-MM-DD HH:MM:SS] message
key=value ...`; lines that do not start with a timestamp (a traceback) belong to the entry
above them. An entry's level is its `level=` field, `info` when it has none.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from infernet.logs import LOG_BACKUPS

SYSTEM_LOG_DIR = Path("/var/log/infernet")
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] ")
_LEVEL = re.compile(r" level=(debug|warning|error|critical)\b")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class LogQueryError(ValueError):
    """A `--since` or `--level` the reader cannot use; the text says what would work."""


def _standard_config(config_path: Path) -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return (base / "infernet" / "config.json").absolute()


def system_log_name(config_path: Path) -> str:
    """The file name of this config's log in the shared system directory."""
    path = config_path.expanduser().absolute()
    if path == _standard_config(path):
        return "daemon.log"
    return f"daemon-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}.log"


def default_log_path(config_path: Path, system_dir: Path | None = None) -> Path:
    """The system directory's log for this config if we may write there (see the module
    docstring), else the log beside the config."""
    system_dir = SYSTEM_LOG_DIR if system_dir is None else system_dir
    writable = (system_dir.is_dir() and os.access(system_dir, os.W_OK)) or (
        not system_dir.exists() and os.access(system_dir.parent, os.W_OK)
    )
    if writable:
        return system_dir / system_log_name(config_path)
    if config_path.name == "config.json":
        return config_path.parent / "daemon.log"
    return config_path.parent / f"{config_path.stem}.daemon.log"


def resolve_log_path(config_path: Path, configured: str | None) -> Path:
    return Path(configured).expanduser() if configured else default_log_path(config_path)


@dataclass(frozen=True)
class LogEntry:
    text: str  # the entry's lines, joined with newlines
    at: datetime | None
    level: str

    @classmethod
    def start(cls, line: str) -> LogEntry:
        stamp = _STAMP.match(line)
        at = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S") if stamp else None
        found = _LEVEL.search(line)
        return cls(line, at, found.group(1) if found else "info")

    def extended(self, line: str) -> LogEntry:
        return LogEntry(f"{self.text}\n{line}", self.at, self.level)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`1h`, `30m`, `2d`, `45s`, `1w`, or a local time `2026-04-30 12:00[:SS]` / ISO."""
    now = now or datetime.now()
    if match := _DURATION.match(text.strip().lower()):
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    for form in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), form)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=None)
    except ValueError as exc:
        raise LogQueryError(
            f"--since {text!r}: give a duration (30m, 1h, 2d) or a time ('2026-04-30 12:00')."
        ) from exc


def parse_level(text: str) -> int:
    try:
        return LEVELS[text.strip().lower()]
    except KeyError as exc:
        raise LogQueryError(f"--level {text!r}: use one of {', '.join(LEVELS)}.") from exc


def log_files(path: Path) -> list[Path]:
    """The current file and its rotated ones, oldest first."""
    older = [path.with_name(f"{path.name}.{n}") for n in range(LOG_BACKUPS, 0, -1)]
    return [p for p in [*older, path] if p.exists()]


def entries(lines: Iterable[str]) -> Iterator[LogEntry]:
    current: LogEntry | None = None
    for raw in lines:
        line = raw.rstrip("\n")
        if _STAMP.match(line) or current is None:
            if current is not None:
                yield current
            current = LogEntry.start(line)
        else:
            current = current.extended(line)
    if current is not None:
        yield current


def _lines(files: Iterable[Path]) -> Iterator[str]:
    for file in files:
        with open(file, encoding="utf-8", errors="replace") as handle:
            yield from handle


def select(
    entries_in: Iterable[LogEntry],
    *,
    lines: int | None = 200,
    since: datetime | None = None,
    min_level: int = LEVELS["debug"],
) -> list[LogEntry]:
    """The last `lines` entries (all when None) at or after `since` and at `min_level`+."""
    kept: deque[LogEntry] = deque(maxlen=lines)
    for entry in entries_in:
        if LEVELS.get(entry.level, 20) < min_level:
            continue
        if since is not None and (entry.at is None or entry.at < since):
            continue
        kept.append(entry)
    return list(kept)


def read_log(
    path: Path,
    *,
    lines: int | None = 200,
    since: datetime | None = None,
    min_level: int = LEVELS["debug"],
) -> list[LogEntry]:
    return select(entries(_lines(log_files(path))), lines=lines, since=since, min_level=min_level)


def follow(
    path: Path,
    emit: Callable[[str], None],
    *,
    keep_going: Callable[[], bool],
    min_level: int = LEVELS["debug"],
    poll_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Print lines appended to `path` from now on, surviving rotation (`tail -F`)."""
    stat = path.stat() if path.exists() else None
    inode, position = (stat.st_ino, stat.st_size) if stat else (None, 0)
    partial, level = b"", "info"
    while keep_going():
        try:
            stat = path.stat()
        except FileNotFoundError:
            sleep(poll_s)
            continue
        if stat.st_ino != inode or stat.st_size < position:  # rotated or truncated
            inode, position, partial = stat.st_ino, 0, b""
        if stat.st_size <= position:
            sleep(poll_s)
            continue
        with open(path, "rb") as handle:
            handle.seek(position)
            chunk = partial + handle.read()
            position = handle.tell()
        *complete, partial = chunk.split(b"\n")
        for raw in complete:
            line = raw.decode("utf-8", errors="replace")
            if _STAMP.match(line):
                level = LogEntry.start(line).level
            if LEVELS.get(level, 20) >= min_level:
                emit(line)
