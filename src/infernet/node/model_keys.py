"""Per-model keys (Book §6.5): one secp256k1 key per installed model, authorized by the node.

Each model the node installs gets its own key at ``<keys dir>/models/<name>.key`` (mode
0600; the keys dir is the node key's directory, ``~/.infernet/keys`` by default) and,
beside it, ``<name>.json``: the node key's signed `ModelKeyStatement` "this model key is
authorized for <model> on this node". The model key signs response provenance
(protocol/provenance.py); clients check it against the statement, the statement against
the node key, and the node key against the operator's delegation.

File names: a model name made only of letters, digits and ``. _ : + -`` that starts with
a letter or digit (at most 100 characters, not ending in ``.key`` or ``.json``) is used
as it is, so ``qwen2.5:14b`` lives in ``qwen2.5:14b.key`` as in the Book. Any other name
(``hf:Qwen/Qwen2.5-7B``, spaces, a leading dot) has each run of other characters
replaced by ``_``, is cut to 80 characters, and gets ``-`` plus the first 10 hex
characters of the SHA-256 of the full name appended, so no name can escape the
directory and two different names never share a file. The statement records the exact
model name; a file whose statement names another model is refused rather than reused.

`ensure_model_key` is idempotent and safe to call from two processes at once (a lock file
serializes creation); it re-signs the statement when the node key has changed (rotation).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from infernet.node.config import NodeConfig, config_lock, write_atomic
from infernet.protocol.delegation import (
    DelegationError,
    ModelKeyStatement,
    authorize_model_key,
    verify_model_key,
)
from infernet.protocol.keys import KeyFileError, NodeKey
from infernet.protocol.provenance import sign_output
from infernet.protocol.wire import Provenance

MODELS_SUBDIR = "models"
_VERBATIM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,99}")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._:+-]+")
log = logging.getLogger("infernet.node")


class ModelKeyError(Exception):
    """A model key cannot be created or used; the text names the file and the fix."""


@dataclass(frozen=True)
class ModelKey:
    model: str
    key: NodeKey
    path: Path
    statement: ModelKeyStatement


@dataclass(frozen=True)
class ModelKeyInfo:
    """A model key as listed, without loading its private half."""

    model: str
    public_hex: str
    path: Path
    node_pubkey: str


def model_key_stem(model: str) -> str:
    """The file name (without ``.key``) of a model's key; see the module docstring."""
    if _VERBATIM.fullmatch(model) and not model.endswith((".key", ".json")):
        return model
    cleaned = _UNSAFE_RUN.sub("_", model).lstrip("._:+-")[:80] or "model"
    return f"{cleaned}-{hashlib.sha256(model.encode()).hexdigest()[:10]}"


def models_dir(keys_dir: Path) -> Path:
    return keys_dir / MODELS_SUBDIR


def model_key_path(keys_dir: Path, model: str) -> Path:
    return models_dir(keys_dir) / f"{model_key_stem(model)}.key"


def _statement_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name[: -len(".key")] + ".json")


def _read_statement(path: Path) -> ModelKeyStatement | None:
    try:
        return ModelKeyStatement.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as exc:
        log.warning(f"Re-signing the unreadable model key statement {path}: {exc}")
        return None


def _still_valid(statement: ModelKeyStatement | None, key: NodeKey, node_key: NodeKey) -> bool:
    if statement is None or statement.model_pubkey != key.public_hex:
        return False
    try:
        verify_model_key(statement, node_pubkey=node_key.public_hex)
    except DelegationError:
        return False
    return True


def ensure_model_key(keys_dir: Path, node_key: NodeKey, model: str) -> ModelKey:
    """The model's key, created (0600) and authorized by ``node_key`` if it is not yet."""
    path = model_key_path(keys_dir, model)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with config_lock(path):
        key = NodeKey.load(path) if path.exists() else NodeKey.generate()
        if not path.exists():
            key.save(path)
        statement = _read_statement(_statement_path(path))
        if statement is not None and statement.model != model:
            raise ModelKeyError(
                f"{path} belongs to model {statement.model!r}, not {model!r}; move it away "
                "and try again"
            )
        if not _still_valid(statement, key, node_key):
            statement = authorize_model_key(node_key, model, key.public_hex)
            write_atomic(_statement_path(path), statement.model_dump_json(indent=2) + "\n")
    assert statement is not None
    return ModelKey(model, key, path, statement)


def ensure_for_install(config: NodeConfig, model: str) -> ModelKey | None:
    """`ensure_model_key` for a model just installed (node/models.py), next to the node key.

    Never fails the install: if the node key or the keys dir is unusable it logs why and
    returns None (the daemon creates the key on the model's first job instead).
    """
    try:
        node_key = NodeKey.load(config.key_file())
        return ensure_model_key(config.key_file().parent, node_key, model)
    except (KeyFileError, ModelKeyError, OSError) as exc:
        log.warning(f"No model key for {model} yet: {exc}")
        return None


def list_model_keys(keys_dir: Path) -> list[ModelKeyInfo]:
    """Every model key under ``keys_dir/models`` that has its statement, by model name."""
    found: list[ModelKeyInfo] = []
    for statement_file in sorted(models_dir(keys_dir).glob("*.json")):
        statement = _read_statement(statement_file)
        key_file = statement_file.with_name(statement_file.name[: -len(".json")] + ".key")
        if statement is None or not key_file.exists():
            continue
        found.append(
            ModelKeyInfo(statement.model, statement.model_pubkey, key_file, statement.node_pubkey)
        )
    return sorted(found, key=lambda info: info.model)


def find_model_key(keys_dir: Path, model: str) -> ModelKeyInfo | None:
    return next((k for k in list_model_keys(keys_dir) if k.model == model), None)


def resign_model_keys(keys_dir: Path, node_key: NodeKey) -> list[ModelKey]:
    """Authorize every existing model key with ``node_key`` (after a node key rotation)."""
    return [ensure_model_key(keys_dir, node_key, info.model) for info in list_model_keys(keys_dir)]


class ModelKeyring:
    """Signs job provenance with the key of the model that ran the job (node/executor.py).

    Keys are created on first use for models installed before model keys existed.
    """

    def __init__(self, keys_dir: Path, node_key: NodeKey) -> None:
        self.keys_dir, self._node_key = keys_dir, node_key
        self._keys: dict[str, ModelKey] = {}

    def key_for(self, model: str) -> ModelKey:
        if model not in self._keys:
            self._keys[model] = ensure_model_key(self.keys_dir, self._node_key, model)
        return self._keys[model]

    def provenance(self, model: str, job_id: str, attempt: int, text: str) -> Provenance | None:
        """The model key's signature over ``text``; None (logged) if the key is unusable."""
        try:
            model_key = self.key_for(model)
        except (ModelKeyError, KeyFileError, OSError) as exc:
            log.warning(f"No provenance for job {job_id}: model key unusable: {exc}")
            return None
        return Provenance(
            model_pubkey=model_key.key.public_hex,
            signature=sign_output(model_key.key, job_id, attempt, text),
            model_key=model_key.statement,
        )
