"""The node's identity files beside its config: the operator's delegation of the node key.

``delegation.json`` (next to the config file, mode 0600) holds the `NodeDelegation` the
operator's user key signed for this node key (Book §6.5). The user key itself never has
to be on the node: `infernet keys delegate` signs on whichever machine holds it and
`infernet keys import-delegation` brings the result here. `infernet register` sends it,
and the control plane verifies it before accepting and records the user key.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from infernet.node.config import ConfigError, write_atomic
from infernet.protocol.delegation import NodeDelegation

DELEGATION_FILE = "delegation.json"


def delegation_path(config_path: Path) -> Path:
    return config_path.with_name(DELEGATION_FILE)


def save_delegation(config_path: Path, delegation: NodeDelegation) -> Path:
    path = delegation_path(config_path)
    write_atomic(path, delegation.model_dump_json(indent=2, exclude_none=True) + "\n")
    return path


def read_delegation(path: Path) -> NodeDelegation:
    """A delegation file, parsed; `ConfigError` naming the file if it is not one."""
    try:
        return NodeDelegation.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"no delegation file at {path}") from exc
    except (OSError, ValidationError) as exc:
        raise ConfigError(f"{path} is not a node delegation: {exc}") from exc


def load_delegation(config_path: Path) -> NodeDelegation | None:
    """This node's stored delegation, or None when it has none."""
    path = delegation_path(config_path)
    return read_delegation(path) if path.exists() else None
