"""Structured log lines: `[YYYY-MM-DD HH:MM:SS] message key=value ...` (the Book's shape,
plus the node, job and other ids as fields a machine can grep). Lines below info carry
`level=debug`, lines above it `level=warning|error|critical`; `infernet logs --level` reads
that field."""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class KeyValueFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("[%(asctime)s] %(message)s", datefmt="%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.levelno >= logging.WARNING or record.levelno < logging.INFO:
            fields = {"level": record.levelname.lower(), **fields}
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


LOG_MAX_BYTES = 50 * 1024 * 1024  # rotate at 50 MB, keep 5 old files (Book §0.1)
LOG_BACKUPS = 5


def setup_logging(level: str = "info", log_file: Path | None = None) -> None:
    """Log to stderr, and also to `log_file` (rotated at 50 MB x 5) when given."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    handlers: list[logging.Handler] = [handler]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        rotating = RotatingFileHandler(
            log_file, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
        rotating.setFormatter(KeyValueFormatter())
        handlers.append(rotating)
    root = logging.getLogger("infernet")
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    root.propagate = False
