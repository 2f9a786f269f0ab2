"""Installing and removing models on a node: the one path `infernet model install/remove`
and the daemon's queued commands (`node/commands.py`) both take.

Install (Book 3.3): check the name is in the backend's format → check the model fits in
memory (refuse unless `force`) → pull it into the backend, reporting progress → add it to
`served_models` → sync heartbeat. Remove: drop it from `served_models` → delete its weights
through the backend → sync heartbeat.

Decisions where the Book is silent:
- `served_models` changes only after the pull succeeded, under the config lock, so a
  failed or interrupted install (Ctrl-C, a dropped download, a full disk) leaves the config
  exactly as it was. An interrupted llama.cpp download keeps its `.part` file and resumes.
- Installs and removes are serialized across processes (CLI and daemon) by an advisory
  lock on `models.lock` next to the config: a second install waits for the first.
- Names: each backend has one naming scheme (Ollama tags; Hugging Face ids for vLLM,
  SGLang and MAX; GGUF paths or URLs for llama.cpp). From the CLI a name in another scheme
  is refused with the right name when the catalogue knows it (`strict`); commands queued
  on the control plane (the dashboard does not know the node's backend) are translated.
  llama.cpp models are served under their file name, which is what goes in
  `served_models`.
- Memory: the fit check uses the combined VRAM of the node's GPUs; a node without a GPU
  runs models from system RAM, so RAM is the budget there. A model of unknown size is
  installed with a note (the check cannot know); `tight` installs with a note.
- Remove when the weights cannot be deleted (e.g. llama-server has the file loaded):
  `served_models` is still updated, since the operator asked to stop serving it, and the
  outcome says what is left to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from infernet.backends.base import Backend, InstalledModel, PullProgress
from infernet.backends.errors import BackendError
from infernet.node.config import NodeConfig, load_config, update_config
from infernet.node.hardware import HardwareReport
from infernet.node.model_keys import ensure_for_install
from infernet.protocol.modelnames import names_for_backend, parse_model_name, routing_key
from infernet.protocol.vram import FitResult, check_fit

ProgressCallback = Callable[[PullProgress], None]
SyncCallback = Callable[[], Awaitable[bool]]

NAME_FORMATS: dict[str, tuple[str, str]] = {  # backend -> (scheme, example)
    "ollama": ("an Ollama tag", "qwen2.5:14b"),
    "vllm": ("a Hugging Face repo id", "Qwen/Qwen2.5-14B-Instruct"),
    "sglang": ("a Hugging Face repo id", "Qwen/Qwen2.5-14B-Instruct"),
    "max": ("a Hugging Face repo id", "Qwen/Qwen2.5-14B-Instruct"),
    "llamacpp": ("a GGUF file path or URL", "./qwen2.5-7b-instruct-q4_k_m.gguf"),
}
_SCHEME_OF = {"ollama": "ollama", "llamacpp": "gguf"}  # the rest: "huggingface"


class ModelError(Exception):
    """An install or remove that cannot go ahead; the message says what to do."""


class WrongNameFormat(ModelError):
    def __init__(self, message: str, suggestion: str | None) -> None:
        super().__init__(message)
        self.suggestion = suggestion


class WontFit(ModelError):
    def __init__(self, fit: FitResult) -> None:
        super().__init__(f"{fit.message} Use --force to install it anyway.")
        self.fit = fit


class NotInstalled(ModelError):
    pass


@dataclass(frozen=True, slots=True)
class MemoryBudget:
    """What a model must fit in: combined VRAM, or system RAM on a node without GPU."""

    gb: float
    source: str

    @classmethod
    def from_report(cls, report: HardwareReport) -> MemoryBudget | None:
        if report.gpus:
            return cls(report.vram_total_mb / 1024, "VRAM")
        if report.ram_total_gb:
            return cls(report.ram_total_gb, "system RAM (no GPU)")
        return None


@dataclass
class InstallOutcome:
    name: str  # as it now appears in served_models
    pulled: bool  # False when the backend held it already
    added: bool  # False when served_models listed it already
    synced: bool
    fit: FitResult | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class RemoveOutcome:
    removed_from_config: list[str]
    deleted: str | None  # the backend's name of the deleted weights
    synced: bool
    delete_error: str | None = None


def is_location(name: str) -> bool:
    """A llama.cpp install source: an http(s) URL or a path to a .gguf file."""
    return urlparse(name).scheme in ("http", "https") or name.lower().endswith(".gguf")


def served_name(name: str, backend: str) -> str:
    """The name the backend will list the model under after install (llama.cpp: the GGUF
    file name of a path or URL)."""
    if backend == "llamacpp" and is_location(name):
        return Path(urlparse(name).path if "://" in name else name).name
    return name.removeprefix("hf:") if backend in ("vllm", "sglang", "max") else name


def backend_name(name: str, backend: str, *, strict: bool) -> str:
    """The name to install `name` under on `backend`. With `strict`, a name in another
    backend's scheme raises `WrongNameFormat` (naming the right one when known); without,
    it is translated when the catalogue knows the model."""
    name = name.strip()
    scheme, example = NAME_FORMATS.get(backend, ("the backend's own name", name))
    if backend == "llamacpp":
        if is_location(name):
            return name
        gguf = names_for_backend(name, backend)
        hint = f" (this model's GGUF is usually published as {gguf})" if gguf else ""
        raise WrongNameFormat(
            f"llama.cpp installs GGUF files: give {scheme}, e.g. {example}{hint}.", gguf
        )
    wanted = _SCHEME_OF.get(backend, "huggingface")
    if backend not in NAME_FORMATS or parse_model_name(name).format == wanted:
        return served_name(name, backend)
    suggestion = names_for_backend(name, backend)
    if suggestion is not None and not strict:
        return suggestion
    use = f"`infernet model install {suggestion or example}`"
    raise WrongNameFormat(
        f"{backend} names models by {scheme}, not {name!r}: use {use}"
        + ("." if suggestion else " (this model is not in the catalogue; check its name)."),
        suggestion,
    )


def _holds(installed: list[InstalledModel], name: str) -> InstalledModel | None:
    """The installed model called `name` (Ollama's implicit `:latest` included)."""
    wanted = {name, f"{name}:latest"}
    return next((m for m in installed if m.name in wanted), None)


def _held_by_key(installed: list[InstalledModel], name: str) -> InstalledModel | None:
    exact = _holds(installed, name)
    if exact is not None:
        return exact
    same = [m for m in installed if routing_key(m.name) == routing_key(name)]
    return same[0] if len(same) == 1 else None


@contextlib.asynccontextmanager
async def _models_lock(config_path: Path) -> AsyncIterator[None]:
    config_path.parent.mkdir(parents=True, exist_ok=True)
    with open(config_path.with_name("models.lock"), "w") as lock:
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


async def _no_sync() -> bool:
    return False


@dataclass
class ModelManager:
    """Install/remove on one backend, recording the result in the config at `config_path`."""

    backend: Backend
    config_path: Path
    budget: MemoryBudget | None = None
    sync: SyncCallback = _no_sync

    def fit(self, name: str) -> FitResult | None:
        if self.budget is None:
            return None
        return check_fit(served_name(name, self.backend.name), self.budget.gb)

    async def pull(self, name: str, progress: ProgressCallback | None = None) -> None:
        """Pull `name` (in the backend's scheme) into the backend; raises BackendError."""
        async for step in self.backend.install(name):
            if progress is not None:
                progress(step)

    async def install(
        self,
        name: str,
        *,
        force: bool = False,
        strict: bool = True,
        progress: ProgressCallback | None = None,
    ) -> InstallOutcome:
        source = backend_name(name, self.backend.name, strict=strict)
        fit = self.fit(source)
        if fit is not None and fit.verdict == "does_not_fit" and not force:
            raise WontFit(fit)
        load_config(self.config_path)  # a malformed config stops us before the download
        async with _models_lock(self.config_path):
            target = served_name(source, self.backend.name)
            held = _holds(await self.backend.list_models(), target)
            if held is None:
                await self.pull(source, progress)
            added = False

            def add(config: NodeConfig) -> None:
                nonlocal added
                if target not in config.served_models:
                    config.served_models.append(target)
                    added = True

            config = update_config(add, self.config_path)
            ensure_for_install(config, target)  # its model key (Book §6.5): node/model_keys.py
        outcome = InstallOutcome(target, held is None, added, await self.sync(), fit)
        if fit is not None and fit.verdict in ("tight", "unknown", "does_not_fit"):
            outcome.notes.append(fit.message)
        return outcome

    async def remove(self, name: str) -> RemoveOutcome:
        name = served_name(name.strip(), self.backend.name)
        async with _models_lock(self.config_path):
            served = load_config(self.config_path).served_models
            dropped = [s for s in served if s == name] or [
                s for s in served if routing_key(s) == routing_key(name)
            ]
            held = _held_by_key(await self.backend.list_models(), name)
            if not dropped and held is None:
                listed = ", ".join(served) or "nothing"
                raise NotInstalled(
                    f"{name} is neither in served_models ({listed}) nor in the {self.backend.name}"
                    " backend; `infernet model list` shows what is installed."
                )

            def drop(config: NodeConfig) -> None:
                config.served_models = [s for s in config.served_models if s not in dropped]

            update_config(drop, self.config_path)
            error = None
            if held is not None:
                try:
                    await self.backend.remove(held.name)
                except BackendError as exc:
                    error = str(exc)
        deleted = held.name if held is not None and error is None else None
        return RemoveOutcome(dropped, deleted, await self.sync(), error)


def served_mismatch(served: list[str], installed: list[InstalledModel]) -> list[str]:
    """Warnings for each model in one list but not the other (compared by routing key)."""
    held = {routing_key(m.name): m.name for m in installed}
    wanted = {routing_key(name): name for name in served}
    warnings = [
        f"served_models has {wanted[k]} but the backend does not hold it"
        for k in wanted.keys() - held.keys()
    ]
    warnings += [
        f"the backend holds {held[k]} but served_models does not list it"
        for k in held.keys() - wanted.keys()
    ]
    return warnings
