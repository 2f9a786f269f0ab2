"""A GGUF base model, dequantized once and kept as a Hugging Face folder.

transformers reads a GGUF through the `gguf` package, which parses its metadata (the
tokenizer's 49k-entry vocabulary among it) field by field in Python, once for the config,
once for the tokenizer and once for the weights: ~19 s for the bundled SmolLM2-135M on one
core, in every process that loads it (a local run, each node's shard, each verification of
a shard, the merge before publishing). The same weights, config and tokenizer saved as a
Hugging Face folder (float32 safetensors) load in ~0.3 s, bit for bit the same.

The folder is made on first use under `$XDG_CACHE_HOME/infernet/train-bases` (default
`~/.cache/...`), named by the GGUF's sha256 and the transformers version that dequantized
it (what this machine's cache happens to hold is never taken for another file or another
reader); it is written beside its final name and renamed into place, so processes that
make it at the same time never see half of one. Only GGUF files up to `MAX_GGUF_BYTES` are
kept: the float32 copy is about 8× a 4-bit file (517 MB for SmolLM2-135M), and for larger
bases reading the GGUF is a small part of a fine-tune. A folder that cannot be written
(a read-only or full disk) leaves the GGUF to be read directly, as before.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("infernet.train")
MAX_GGUF_BYTES = 512 * 2**20


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "infernet" / "train-bases"


def dense_folder(gguf: Path, fingerprint: str, read: Callable[[], tuple[Any, Any]]) -> Path | None:
    """The kept folder for `gguf` (sha256 `fingerprint`), made with `read()` (the model
    and tokenizer as transformers reads them from the GGUF) when missing; None when the
    file is too large to keep or the folder cannot be written."""
    if gguf.stat().st_size > MAX_GGUF_BYTES:
        return None
    import transformers

    folder = cache_root() / f"{fingerprint}-transformers-{transformers.__version__}"
    if (folder / "config.json").is_file():  # complete: only a finished folder is renamed here
        return folder
    _drop_abandoned(folder)
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    try:
        model, tokenizer = read()
        if hasattr(model.config, "quantization_config"):  # saved as plain float32 weights
            del model.config.quantization_config
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        partial.rename(folder)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if (folder / "config.json").is_file():
            return folder  # another process kept it first
        log.warning(f"Could not keep a dequantized copy of {gguf.name} in {folder}: {exc}")
        return None
    log.info(f"Kept a dequantized copy of {gguf.name} in {folder}")
    return folder


def _drop_abandoned(folder: Path) -> None:
    """Remove half-written copies of `folder` whose process is gone (killed while writing
    ~0.5 GB that nothing would ever read)."""
    for partial in folder.parent.glob(f"{folder.name}.partial-*"):
        pid = partial.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(partial, ignore_errors=True)
