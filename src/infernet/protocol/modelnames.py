"""Model names across backends, and the routing key the control plane matches on.

Owns: reading a model name in any backend's format (Ollama tag `qwen2.5:14b-instruct-q4_K_M`,
Hugging Face id `Qwen/Qwen2.5-14B-Instruct` or `hf:Qwen/...`, GGUF filename
`qwen2.5-14b-instruct-q4_k_m.gguf`) into a typed `ModelName`; the canonical `routing_key`;
names of the catalogue's models per backend (`protocol/catalogue.py`); and resolving a
requested name against the keys that nodes serve. The Book only says "the control plane
normalizes model names for routing"; these are the decisions it leaves open:

- A routing key is family + size + instruct-ness, spelled like an Ollama tag:
  `qwen2.5:14b`, `smollm2:135m`, `llama3.1:8b-base`, `nomic-embed-text`. Words after the
  size that are neither variant nor quantization (`v0.3`, `1m`) stay in the key, because
  they name a different model.
- Quantization is NOT part of identity. Q4_K_M and FP16 weights of one model answer the
  same prompts, and a client asking for `qwen2.5:14b` wants any node serving it. The
  quantization stays readable from `ModelName.quant` (VRAM math needs it).
- Instruct vs base IS part of identity: they answer differently. Ollama's chat tags
  (`qwen2.5:7b`) are instruct models, so an Ollama tag is instruct unless it says `text`
  or `base`; a Hugging Face id or GGUF file is instruct only when it says `instruct`,
  `chat` or `it`. A base model's key ends in `-base`.
- A name without a parameter count (embedding models, `qwen2.5`, `:latest`) keys on its
  family alone. Catalogue aliases map the known irregular names (`DeepSeek-V2-Lite`).
- Resolution never substitutes a different model: `qwen2.5:7b` never matches
  `qwen2.5:72b`; a name without a size matches when exactly one served model of that
  family and variant exists, and is ambiguous when several do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from infernet.protocol.catalogue import CATALOGUE as CATALOGUE
from infernet.protocol.catalogue import CatalogueEntry as CatalogueEntry
from infernet.protocol.catalogue import ModelKind as ModelKind

NameFormat = Literal["ollama", "huggingface", "gguf"]

_SIZE_RE = re.compile(r"(?:(\d+)x)?(\d+(?:\.\d+)?)([bm])")
_GGUF_QUANT_RE = re.compile(r"i?q([2-8])(?:_[a-z0-9]+)*")
_NAMED_QUANTS = {
    "f16": "fp16",
    "fp16": "fp16",
    "bf16": "bf16",
    "f32": "fp32",
    "fp32": "fp32",
    "fp8": "fp8",
    "int8": "int8",
    "int4": "int4",
    "awq": "int4",
    "gptq": "int4",
}
_INSTRUCT_WORDS = frozenset({"instruct", "chat", "it"})
_BASE_WORDS = frozenset({"base", "text"})
_IGNORED_WORDS = frozenset({"gguf", "hf", "latest"})
_BACKEND_FORMATS: dict[str, NameFormat] = {
    "ollama": "ollama",
    "vllm": "huggingface",
    "sglang": "huggingface",
    "max": "huggingface",
    "llamacpp": "gguf",
    "llama.cpp": "gguf",
}


class ModelNameError(ValueError):
    """A model name that cannot be used as asked; the message says what to do."""


class UnknownModelName(ModelNameError):
    """No served model matches the requested name."""

    def __init__(self, requested: str, candidates: tuple[str, ...]) -> None:
        self.requested = requested
        self.candidates = candidates
        if candidates:
            hint = f" Nodes serve these models of that family: {', '.join(candidates)}."
        else:
            hint = " Install it on a node (`infernet model install <name>`) or ask for another."
        super().__init__(f"No node serves the model '{requested}'.{hint}")


class AmbiguousModelName(ModelNameError):
    """The requested name matches several served models; the client must pick one."""

    def __init__(self, requested: str, candidates: tuple[str, ...]) -> None:
        self.requested = requested
        self.candidates = candidates
        super().__init__(
            f"The model name '{requested}' is ambiguous: nodes serve {', '.join(candidates)}. "
            "Ask for one of them by its full name."
        )


class UnknownBackend(ModelNameError):
    """A backend name this module has no naming scheme for."""


@dataclass(frozen=True, slots=True)
class ModelName:
    """One model name, read into its parts. `quant` is a level (`q4`, `fp16`, `int8`, ...),
    `quant_tag` the spelling found in the name (`q4_k_m`), None when the name has none."""

    raw: str
    format: NameFormat
    family: str
    size: str | None
    instruct: bool
    extra: tuple[str, ...] = ()
    quant: str | None = None
    quant_tag: str | None = None

    @property
    def params_b(self) -> float | None:
        """Parameters in billions read from the name; None for none or a mixture (8x7b),
        whose real count the name does not tell."""
        if self.size is None:
            return None
        match = _SIZE_RE.fullmatch(self.size)
        if match is None or match.group(1) is not None:
            return None
        value = float(match.group(2))
        return value / 1000 if match.group(3) == "m" else value

    @property
    def key(self) -> str:
        if self.size is None:
            return self.family
        parts = [self.size, *self.extra]
        if not self.instruct:
            parts.append("base")
        return f"{self.family}:{'-'.join(parts)}"


def _aliases() -> dict[str, str]:
    table: dict[str, str] = {}
    for entry in CATALOGUE:
        for name in (entry.ollama, entry.huggingface, entry.gguf):
            if name is not None:
                table[name.lower()] = entry.key
    return table


_ALIASES = _aliases()
_BY_KEY = {entry.key: entry for entry in CATALOGUE}


def _tokens(text: str) -> list[str]:
    """Split on '-', '_'-free separators and on dots that are not inside a number."""
    return [t for t in re.split(r"-|\s+|\.(?!\d)|(?<!\d)\.", text.lower()) if t]


def _family(tokens: Iterable[str]) -> str:
    text = "-".join(tokens)
    # A version number joins its name (llama-3.1 -> llama3.1, gemma-2 -> gemma2); a word
    # that merely starts with a digit (mini-4k) does not.
    text = re.sub(r"(?<=[a-z])-(?=\d+(?:\.\d+)?(?:-|$))", "", text)
    return text.removeprefix("meta-")  # Meta-Llama-3.1 -> llama3.1


def quant_level(token: str) -> str | None:
    """`q4_k_m` -> `q4`, `Q8_0` -> `q8`, `fp16`/`f16` -> `fp16`, `awq` -> `int4`; None if not a
    quantization word."""
    token = token.lower()
    match = _GGUF_QUANT_RE.fullmatch(token)
    if match is not None:
        return f"q{match.group(1)}"
    return _NAMED_QUANTS.get(token)


@dataclass(slots=True)
class _Descriptors:
    instruct: bool
    extra: list[str]
    quant: str | None = None
    quant_tag: str | None = None


def _describe(tokens: Iterable[str], instruct: bool) -> _Descriptors:
    found = _Descriptors(instruct=instruct, extra=[])
    for token in tokens:
        level = quant_level(token)
        if level is not None:
            # A bit width (int8) is more specific than a method name (gptq), so it wins.
            if found.quant is None or token not in ("awq", "gptq"):
                found.quant, found.quant_tag = level, token
        elif token in _INSTRUCT_WORDS:
            found.instruct = True
        elif token in _BASE_WORDS:
            found.instruct = False
        elif token not in _IGNORED_WORDS:
            found.extra.append(token)
    return found


def _split_at_size(tokens: list[str]) -> tuple[list[str], str | None, list[str]]:
    for index, token in enumerate(tokens):
        if index > 0 and _SIZE_RE.fullmatch(token):
            return tokens[:index], token, tokens[index + 1 :]
    return tokens, None, []


def _parse_ollama(raw: str, base: str, tag: str) -> ModelName:
    family = _family(_tokens(base))
    tag_tokens = _tokens(tag)
    size = tag_tokens[0] if tag_tokens and _SIZE_RE.fullmatch(tag_tokens[0]) else None
    if size is None and _split_at_size(_tokens(base))[1] is not None:
        # An imported model named like a repo (`mistral-7b-instruct:latest`): the size is
        # in the name, the tag only adds variant or quant words.
        return _parse_repo(raw, base, "ollama", tag)
    rest = tag_tokens[1:] if size is not None else tag_tokens
    found = _describe(rest, instruct=True)
    extra = tuple(found.extra) if size is not None else ()
    return ModelName(
        raw, "ollama", family, size, found.instruct, extra, found.quant, found.quant_tag
    )


def _parse_repo(raw: str, stem: str, fmt: NameFormat, tag: str = "") -> ModelName:
    head, size, tail = _split_at_size(_tokens(stem))
    if size is None:  # no size: family is everything that is not a variant or quant word
        found = _describe(head, instruct=False)
        return ModelName(
            raw, fmt, _family(found.extra), None, found.instruct, (), found.quant, found.quant_tag
        )
    found = _describe([*tail, *_tokens(tag)], instruct=False)
    return ModelName(
        raw,
        fmt,
        _family(head),
        size,
        found.instruct,
        tuple(found.extra),
        found.quant,
        found.quant_tag,
    )


def parse_model_name(name: str) -> ModelName:
    """Read a model name in any backend's naming scheme. Never fails: an unusual name
    becomes a size-less family name, which routes only to that exact name."""
    raw = name.strip()
    text = raw.removeprefix("hf:").removeprefix("hf.co/")
    if text.lower().endswith(".gguf"):
        return _parse_repo(raw, text.rsplit("/", 1)[-1][: -len(".gguf")], "gguf")
    if "/" in text:
        repo, _, tag = text.rsplit("/", 1)[-1].partition(":")
        return _parse_repo(raw, repo, "ollama" if tag else "huggingface", tag)
    if ":" in text:
        base, _, tag = text.partition(":")
        return _parse_ollama(raw, base, tag)
    if _split_at_size(_tokens(text))[1] is not None:  # `Qwen2.5-14B-Instruct`, served-model-name
        return _parse_repo(raw, text, "huggingface")
    return _parse_ollama(raw, text, "")


@lru_cache(maxsize=4096)  # asked on every request, mostly for the same few names
def routing_key(name: str) -> str:
    """Canonical key for routing: the same model under any backend's name gets one key
    (`qwen2.5:14b`, `Qwen/Qwen2.5-14B-Instruct` and `qwen2.5-14b-instruct-q4_k_m.gguf` all
    give `qwen2.5:14b`). Quantization is not part of it; instruct vs base is."""
    alias = _ALIASES.get(name.strip().removeprefix("hf:").lower())
    return alias if alias is not None else parse_model_name(name).key


def catalogue_entry(name: str) -> CatalogueEntry | None:
    """The catalogue's entry for a model named any way, or None when it is not catalogued."""
    return _BY_KEY.get(routing_key(name))


def names_for_backend(name: str, backend: str) -> str | None:
    """The name `backend` knows this model by (`vllm` -> `Qwen/Qwen2.5-14B-Instruct`), or None
    when the catalogue does not know the model or has no name for it on that backend."""
    fmt = _BACKEND_FORMATS.get(backend.strip().lower())
    if fmt is None:
        known = ", ".join(sorted(_BACKEND_FORMATS))
        raise UnknownBackend(f"Unknown backend '{backend}'. Use one of: {known}.")
    entry = catalogue_entry(name)
    if entry is None:
        return None
    return {"ollama": entry.ollama, "huggingface": entry.huggingface, "gguf": entry.gguf}[fmt]


def resolve_model(requested: str, served: Iterable[str]) -> str:
    """The served routing key that `requested` names. Raises `UnknownModelName` when none
    does and `AmbiguousModelName` when a size-less name matches several; never returns a
    model of another size or variant than the one asked for."""
    served_keys = sorted({routing_key(name) for name in served})
    key = routing_key(requested)
    if key in served_keys:
        return key
    wanted = parse_model_name(key)
    same_family = [k for k in served_keys if parse_model_name(k).family == wanted.family]
    if wanted.size is None:
        matches = [k for k in same_family if parse_model_name(k).instruct == wanted.instruct]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise AmbiguousModelName(requested, tuple(matches))
    raise UnknownModelName(requested, tuple(same_family))
