"""The base model of a fine-tune: what `base_model` names, and loading it for training.

`base_model` may be
- a GGUF file of the llama family (path, relative to the config's folder), or the file name
  of the bundled SmolLM2-135M-Instruct GGUF; transformers reads it through the `gguf`
  package and dequantizes it into an ordinary float32 model, kept for the next load
  (dequantized.py);
- a local Hugging Face folder (with `config.json`);
- a Hugging Face Hub id (`org/name`): taken from the local Hugging Face cache, else
  downloaded; where the Hub cannot be reached, the error says so.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from infernet.train.dequantized import dense_folder
from infernet.train.errors import RunError, TrainConfigError
from infernet.train.filehash import file_sha256

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class BaseModelRef:
    kind: Literal["gguf", "hf_dir", "hub"]
    location: str  # an absolute path, or the Hub id

    @property
    def path(self) -> Path:
        return Path(self.location)

    @cached_property
    def fingerprint(self) -> str | None:
        """sha256 of a GGUF file (what the frozen config records), None otherwise. Read
        once per reference: a run hashes its base for the record and for its kept copy."""
        return file_sha256(self.path) if self.kind == "gguf" else None


def resolve_base(spec: str, folder: Path) -> BaseModelRef:
    candidate = Path(spec).expanduser()
    candidate = candidate if candidate.is_absolute() else folder / candidate
    if candidate.is_file() and candidate.suffix == ".gguf":
        return BaseModelRef("gguf", str(candidate.resolve()))
    if (candidate / "config.json").is_file():
        return BaseModelRef("hf_dir", str(candidate.resolve()))
    from infernet.backends.errors import BackendError
    from infernet.engine.launch import SMOLLM2_FILE, find_smollm2

    if spec == SMOLLM2_FILE:
        try:
            return BaseModelRef("gguf", str(find_smollm2()))
        except BackendError as exc:
            raise TrainConfigError(f"base_model: {exc}") from exc
    if _HUB_ID.match(spec) and not candidate.exists():
        return BaseModelRef("hub", spec)
    raise TrainConfigError(
        f"base_model: {spec!r} is neither a .gguf file, a Hugging Face folder (config.json) "
        f"nor a Hub id (org/name); the bundled model is {SMOLLM2_FILE!r}"
    )


def check_network_base(spec: str, folder: Path | None = None) -> None:
    """An open-market run's base model must be one every node (and the control plane's
    verifier) loads by name: the bundled GGUF, or a Hugging Face Hub id. `folder`: the
    submitter's run folder, where a local file or folder of that name would be meant."""
    from infernet.engine.launch import SMOLLM2_FILE

    local = folder is not None and (folder / Path(spec).expanduser()).exists()
    if spec == SMOLLM2_FILE or (_HUB_ID.match(spec) and not local):
        return
    raise TrainConfigError(
        f"base_model: {spec!r} is not a model every node can load: an open-market run needs "
        f"a Hugging Face Hub id (org/name) or the bundled {SMOLLM2_FILE!r}; a file or folder "
        "on this machine cannot reach the nodes"
    )


def load_tokenizer(ref: BaseModelRef) -> Any:
    from transformers import AutoTokenizer

    if ref.kind == "gguf":
        if (folder := _dequantized(ref)) is not None:
            return AutoTokenizer.from_pretrained(str(folder))
        return _read_gguf_tokenizer(ref)
    return _from_hub_or_cache(AutoTokenizer, ref)


def load_model(ref: BaseModelRef, **kwargs: Any) -> Any:
    """The base model in float32 (or what `kwargs` ask for), ready for training."""
    from transformers import AutoModelForCausalLM

    if ref.kind == "gguf":
        if (folder := _dequantized(ref)) is not None:
            model = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
            model.config._name_or_path = str(ref.path.parent)  # what adapters name as base
            return model
        return _read_gguf_model(ref, **kwargs)
    return _from_hub_or_cache(AutoModelForCausalLM, ref, **kwargs)


def _dequantized(ref: BaseModelRef) -> Path | None:
    """The GGUF's kept Hugging Face copy (dequantized.py), made on first use."""
    fingerprint = ref.fingerprint
    assert fingerprint is not None  # a GGUF's
    return dense_folder(
        ref.path, fingerprint, lambda: (_read_gguf_model(ref), _read_gguf_tokenizer(ref))
    )


def _read_gguf_tokenizer(ref: BaseModelRef) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(ref.path.parent), gguf_file=ref.path.name)


def _read_gguf_model(ref: BaseModelRef, **kwargs: Any) -> Any:
    from transformers import AutoModelForCausalLM, GgufConfig

    # dequantize=True: plain dense layers that PEFT can wrap, never GGUF block kernels.
    return AutoModelForCausalLM.from_pretrained(
        str(ref.path.parent),
        gguf_file=ref.path.name,
        quantization_config=GgufConfig(dequantize=True),
        **kwargs,
    )


def _from_hub_or_cache(auto: Any, ref: BaseModelRef, **kwargs: Any) -> Any:
    if ref.kind == "hf_dir":
        return auto.from_pretrained(ref.location, **kwargs)
    try:
        return auto.from_pretrained(ref.location, local_files_only=True, **kwargs)
    except OSError:
        pass  # not in the cache: download it
    try:
        return auto.from_pretrained(ref.location, **kwargs)
    except OSError as exc:
        from huggingface_hub import constants

        why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "the download failed"
        raise RunError(
            f"base_model {ref.location} is not in the local Hugging Face cache and {why}: "
            "fetching it needs access to huggingface.co; or set base_model to a local GGUF "
            "file or Hugging Face folder"
        ) from exc


def describe(ref: BaseModelRef) -> str:
    return {"gguf": "GGUF file", "hf_dir": "Hugging Face folder", "hub": "Hugging Face Hub"}[
        ref.kind
    ] + f" {ref.location}"


@contextmanager
def library_noise_off() -> Iterator[None]:
    """Silence the two warnings the libraries raise at each other, not at the user."""
    with warnings.catch_warnings():
        # PEFT looks for the base's config.json to see if the vocabulary grew; a GGUF base
        # has none, and these adapters never train the embeddings.
        warnings.filterwarnings("ignore", message="Could not find a config file")
        # TRL and PEFT still call this transformers alias.
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated")
        yield
