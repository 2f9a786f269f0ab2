"""Structured log lines: `[YYYY-MM-DD HH:MM:SS] message key=value ...` (the Book's shape,
plus the node, job and other ids as fields a machine can grep)."""

from __future__ import annotations

import logging
import sys

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class KeyValueFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("[%(asctime)s] %(message)s", datefmt="%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.levelno >= logging.WARNING:
            fields = {"level": record.levelname.lower(), **fields}
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger("infernet")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
