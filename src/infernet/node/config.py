"""The node's config file: where it lives, what it holds, and writing it without loss.

The file is the Book's flat JSON shape (`served_models` at the top level, snake_case keys),
kept at `$XDG_CONFIG_HOME/infernet/config.json` (mode 0600); `INFERNET_CONFIG` points
elsewhere. The Book's nested camelCase shape (`controlPlane.url`, `engine.backend`, ...) is
read too and written back flat. Unknown keys are preserved on every rewrite.

Writes are atomic (temp file in the same directory, fsync, rename) and serialized with an
advisory lock, so a crash or two concurrent `model install`s never leave a half-written or
lost config. A malformed file is never overwritten: `ConfigError` names the file, the line
and the field.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from infernet.protocol.tiers import Tier, parse_tier

DEFAULT_CONTROL_PLANE_URL = "http://127.0.0.1:8700"


class ConfigError(Exception):
    """The config file cannot be used; the message says where and how to fix it."""


class VllmInstance(BaseModel):
    host: str
    model: str


class NodeConfig(BaseModel):
    model_config = ConfigDict(extra="allow", validate_assignment=True)

    node_id: str | None = None
    public_key: str | None = None
    name: str = ""
    control_plane_url: str = DEFAULT_CONTROL_PLANE_URL
    key_path: str = str(Path("~/.infernet/keys/node.key"))
    backend: str | None = None  # None: auto-detect in the Book's probe order
    ollama_host: str = "http://localhost:11434"
    vllm_host: str = "http://localhost:8000"
    vllm_model: str | None = None
    vllm_instances: list[VllmInstance] = Field(default_factory=list)
    sglang_host: str = "http://localhost:30000"
    sglang_model: str | None = None
    max_host: str = "http://localhost:8080"
    max_model: str | None = None
    # The most context (tokens) the node gives an Ollama model (else its trained context,
    # as far as the node's memory holds the KV cache); OLLAMA_CONTEXT_LENGTH also sets it.
    ollama_num_ctx: int | None = Field(default=None, ge=256)
    llamacpp_host: str = "http://localhost:8080"
    llamacpp_models_dir: str = str(Path("~/.infernet/models"))
    served_models: list[str] = Field(default_factory=list)
    # An explicit tier override (Book: "settable manually for multi-GPU"); None, the
    # default, means the tier detected from the hardware at each start.
    vram_tier: Tier | None = None
    max_concurrent_jobs: int = Field(default=1, ge=1, le=256)
    # None: beat as often as the control plane asks (node/pacing.py); a number: at least
    # this often, whatever it asks.
    heartbeat_interval_s: float | None = Field(default=None, gt=0)
    env: dict[str, str] = Field(default_factory=dict)
    payout_address: str | None = None
    payout_chain: str | None = None
    # Book §8.5: the daemon claims earnings on this schedule once they reach the threshold
    # (and the chain's minimum); `infernet payout --auto` makes the same decision for cron.
    auto_payout: bool = False
    auto_payout_threshold: Decimal = Field(default=Decimal("5.0"), ge=0)
    auto_payout_schedule: Literal["hourly", "daily", "weekly"] = "daily"
    api_key: str | None = None  # client key for `infernet chat`
    # Operations (docs/operations.md): daemon log file (None: /var/log/infernet/daemon.log
    # if writable, else beside this config), local metrics listener (0 disables it), how
    # long a drain waits for running jobs, and multi-GPU engine launch (Book §9.1).
    log_file: str | None = None
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    drain_timeout_s: float = Field(default=300.0, gt=0)
    tensor_parallel_size: int = Field(default=1, ge=1, le=64)
    pipeline_parallel_size: int = Field(default=1, ge=1, le=64)
    ray_address: str | None = None
    # Open-market training (node/training.py): train shards of others' fine-tunes, for pay.
    # Off unless the operator opts in; needs the train extra. `training_dir` (None:
    # `training/` beside the key folder) holds the shard being trained.
    accept_training: bool = False
    training_dir: str | None = None
    training_poll_s: float = Field(default=30.0, gt=0)

    @field_validator("vram_tier", mode="before")
    @classmethod
    def _known_tier(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_tier(value) if value.strip() else None
        return value

    def key_file(self) -> Path:
        return Path(self.key_path).expanduser()


_NESTED_TO_FLAT = {
    ("controlPlane", "url"): "control_plane_url",
    ("node", "id"): "node_id",
    ("node", "nodeId"): "node_id",
    ("node", "name"): "name",
    ("node", "publicKey"): "public_key",
    ("engine", "backend"): "backend",
    ("engine", "ollamaHost"): "ollama_host",
}


def default_config_path() -> Path:
    if explicit := os.environ.get("INFERNET_CONFIG"):
        return Path(explicit).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "infernet" / "config.json"


def _flatten_nested(raw: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in raw.items() if not isinstance(v, dict) or k == "env"}
    for (section, key), target in _NESTED_TO_FLAT.items():
        value = raw.get(section, {}).get(key) if isinstance(raw.get(section), dict) else None
        if value is not None:
            flat.setdefault(target, value)
    return flat


def _line_of(text: str, field: str) -> int | None:
    needle = f'"{field}"'
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


_MAX_NESTING = 32  # a config nests 2 levels; the bound only has to stay far below the C stack


def _nesting(text: str) -> int:
    """The deepest [ / { nesting of JSON `text`, strings skipped. json's C scanner recurses
    once per level and trusts the interpreter's recursion limit, which some libraries raise
    (py_ecc sets 100,000): past the C stack that is a segfault, not a RecursionError."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif in_string:
            escaped, in_string = char == "\\", char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_config(text: str, path: Path) -> NodeConfig:
    if _nesting(text) > _MAX_NESTING:
        raise ConfigError(
            f"{path}:1: nested too deeply to be a config. Fix the file; it has not been changed."
        )
    try:
        raw = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno}). "
            "Fix that line; the file has not been changed."
        ) from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}:1: the config must be a JSON object {{...}}.")
    try:
        return NodeConfig.model_validate(_flatten_nested(raw))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        line = _line_of(text, str(err["loc"][0]))
        where = f"{path}:{line}" if line else str(path)
        raise ConfigError(
            f"{where}: field '{field}': {err['msg']}. Fix it; the file has not been changed."
        ) from exc


def load_config(path: Path | None = None) -> NodeConfig:
    path = path or default_config_path()
    if not path.exists():
        raise ConfigError(f"no config at {path}. Run `infernet init` (or `infernet setup`).")
    return parse_config(path.read_text(encoding="utf-8"), path)


def write_atomic(path: Path, data: str, mode: int = 0o600) -> None:
    """Write `data` to `path` so that readers see the old or the new file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_config(config: NodeConfig, path: Path | None = None) -> None:
    path = path or default_config_path()
    body = config.model_dump(mode="json", exclude_none=False)
    write_atomic(path, json.dumps(body, indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def config_lock(path: Path) -> Iterator[None]:
    """Serialize read-modify-write cycles on one config across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def update_config(change: Callable[[NodeConfig], None], path: Path | None = None) -> NodeConfig:
    """Load, apply `change`, save: all under the lock. If `change` raises, nothing is written."""
    path = path or default_config_path()
    with config_lock(path):
        config = load_config(path)
        change(config)
        save_config(config, path)
        return config


# --- environment overrides (precedence: file < INFERNET_* environment < command-line flags)

ENV_PREFIX = "INFERNET_"


def env_var(field: str) -> str:
    """The environment variable that overrides config key `field` (`INFERNET_<FIELD>`)."""
    return ENV_PREFIX + field.upper()


def coerce_value(field: str, text: str) -> object:
    """Turn the text form of a value (an env var, `infernet config set`) into JSON-ish
    data for `field`: lists are comma-separated (or JSON), maps are JSON, an empty string
    clears an optional value. Pydantic validates the result."""
    info = NodeConfig.model_fields.get(field)
    if info is None:
        raise ConfigError(f"unknown config key '{field}'; see `infernet config show`.")
    annotation = str(info.annotation)
    stripped = text.strip()
    if "list" in annotation or "dict" in annotation:
        if stripped.startswith(("[", "{")):
            try:
                return json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{field}: not valid JSON ({exc.msg}).") from exc
        if "dict" in annotation:
            example = '{"KEY": "value"}'
            raise ConfigError(f"{field}: give a JSON object, e.g. '{example}'.")
        return [item.strip() for item in stripped.split(",") if item.strip()]
    if stripped == "" and info.default is None:
        return None
    return stripped


def apply_env_overrides(config: NodeConfig, env: Mapping[str, str] | None = None) -> NodeConfig:
    """A copy of `config` with every `INFERNET_<KEY>` variable set in `env` applied."""
    env = os.environ if env is None else env
    values = config.model_dump()
    for field in NodeConfig.model_fields:
        if (text := env.get(env_var(field))) is not None:
            values[field] = coerce_value(field, text)
    try:
        return NodeConfig.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0])
        raise ConfigError(f"{env_var(name)}: {err['msg']}. Fix or unset the variable.") from exc


def load_effective_config(path: Path | None = None) -> NodeConfig:
    """The config file with the environment's overrides on top (what the daemon runs on)."""
    return apply_env_overrides(load_config(path))
