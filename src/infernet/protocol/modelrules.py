"""Whether a string can name a model at all, and its one spelling: the check every entry
point runs before anything is pulled or written (`infernet model install`, `setup
--model`, `config set served_models`, the daemon's queued installs).

The naming schemes are the backends' own (the model-management page): Ollama tags,
Hugging Face repo ids (vLLM, SGLang, MAX), GGUF files (llama.cpp). Which scheme a name is
written in is read by `modelnames.parse_model_name`; this module checks it against that
scheme's rules and says what is wrong. Rules, and where they come from:

- Every name: not empty, no whitespace or control characters, not starting with `-` (that
  is an option, never a name).
- Ollama (ollama/ollama `types/model/name.go`): `[host/][namespace/]model[:tag]`, each part
  of letters, digits, `_`, `.` and `-` (no `.` in a namespace), no `..`, at most 128
  characters in all. Ollama compares names ignoring case and its library's are lower
  case, so a library name's one spelling is lower case (`Qwen2.5:7B` is `qwen2.5:7b`);
  a name with a host (`hf.co/owner/repo:tag`) keeps its case.
- Hugging Face (the Hub's repo id rules): `[hf:]owner/name`, or a bare served-model name,
  of letters, digits, `_`, `.` and `-`, each part at most 96 characters, no `--` or `..`;
  case is kept.
- llama.cpp: an http(s) URL (at most 2048 characters) or a path ending in `.gguf` (at most
  4096).
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

from infernet.protocol.modelnames import ModelNameError, NameFormat, parse_model_name

OLLAMA_MAX_LEN = 128
HF_PART_MAX_LEN = 96
URL_MAX_LEN = 2048
PATH_MAX_LEN = 4096
EXAMPLES = (
    "e.g. qwen2.5:7b (Ollama), Qwen/Qwen2.5-7B-Instruct (vLLM, SGLang, MAX) or a .gguf "
    "path or URL (llama.cpp)"
)
_PART = re.compile(r"[A-Za-z0-9_.\-]+")
_NAMESPACE = re.compile(r"[A-Za-z0-9_\-]+")
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f]")


class InvalidModelName(ModelNameError):
    """A string that no backend could take as a model name; the message says why."""


def is_location(name: str) -> bool:
    """A llama.cpp install source: an http(s) URL or a path to a .gguf file."""
    return urlparse(name).scheme in ("http", "https") or name.lower().endswith(".gguf")


def _general(name: str) -> str:
    text = name.strip()
    if not text:
        raise InvalidModelName(f"give a model name, {EXAMPLES}.")
    if text.startswith("-"):
        raise InvalidModelName(f"{text!r} is not a model name (names never start with '-').")
    if _CONTROL_OR_SPACE.search(text) and not is_location(text):
        squeezed = _CONTROL_OR_SPACE.sub("", text)
        raise InvalidModelName(
            f"{text!r} is not a model name: names have no spaces (did you mean {squeezed!r}?)."
        )
    return text


def _ollama(name: str) -> str:
    if len(name) > OLLAMA_MAX_LEN:
        raise InvalidModelName(
            f"an Ollama model name is at most {OLLAMA_MAX_LEN} characters; this one has "
            f"{len(name)}."
        )
    head, slash, last = name.rpartition("/")
    model, colon, tag = last.partition(":")
    parts = [*(head.split("/") if slash else []), model]
    bad = (
        len(parts) > 3
        or (colon and not _PART.fullmatch(tag))
        or ".." in name
        or not all(_PART.fullmatch(p) for p in parts)
        or (len(parts) > 1 and not _NAMESPACE.fullmatch(parts[-2]))
    )
    if bad:
        raise InvalidModelName(
            f"{name!r} is not an Ollama model name: use [namespace/]model[:tag] with letters, "
            "digits, '.', '-' and '_', e.g. qwen2.5:14b or qwen2.5:14b-instruct-q4_K_M."
        )
    return name if len(parts) == 3 else name.lower()


def _huggingface(name: str) -> str:
    repo = name.removeprefix("hf:").removeprefix("hf.co/")
    parts = repo.split("/")
    bad = (
        len(parts) > 2
        or not all(_PART.fullmatch(p) and len(p) <= HF_PART_MAX_LEN for p in parts)
        or "--" in repo
        or ".." in repo
        or any(p[0] in ".-" or p[-1] in ".-" for p in parts)
    )
    if bad:
        raise InvalidModelName(
            f"{name!r} is not a Hugging Face repo id: use owner/name with letters, digits, "
            f"'.', '-' and '_' (at most {HF_PART_MAX_LEN} each), e.g. Qwen/Qwen2.5-14B-Instruct."
        )
    return name


def _gguf(name: str) -> str:
    if urlparse(name).scheme in ("http", "https"):
        if len(name) > URL_MAX_LEN or _CONTROL_OR_SPACE.search(name):
            raise InvalidModelName(
                f"a GGUF URL has no spaces and at most {URL_MAX_LEN} characters: {name[:80]!r}"
            )
        return name
    if len(name) > PATH_MAX_LEN or re.search(r"[\x00-\x1f\x7f]", name):
        raise InvalidModelName(f"{name[:80]!r} is not a usable path to a .gguf file.")
    return name


_BY_FORMAT = {"ollama": _ollama, "huggingface": _huggingface, "gguf": _gguf}


def canonical_model_name(name: str) -> str:
    """`name`, checked against the rules of the scheme it is written in, in its one
    spelling (see the module docstring); `InvalidModelName` says what is wrong."""
    text = _general(name)
    scheme: NameFormat = "gguf" if is_location(text) else parse_model_name(text).format
    return _BY_FORMAT[scheme](text)


def same_model_name(a: str, b: str) -> bool:
    """Whether two served_models entries name the same install (Ollama's case and implicit
    `:latest` forgiven), without failing on an entry that is not a valid name."""

    def spelled(name: str) -> str:
        try:
            text = canonical_model_name(name)
        except InvalidModelName:
            return name
        return text.removesuffix(":latest")

    return spelled(a) == spelled(b)
