"""A file read a megabyte at a time, and its sha256: bases, datasets and exported GGUFs
run to gigabytes, never read whole into memory."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path


def file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        yield from iter(lambda: handle.read(1 << 20), b"")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for block in file_chunks(path):
        digest.update(block)
    return digest.hexdigest()
