"""Which strings can name a model, per backend scheme, and each name's one spelling."""

from __future__ import annotations

import pytest

from infernet.protocol.modelrules import (
    InvalidModelName,
    canonical_model_name,
    same_model_name,
)

# Every name the model-management page shows, per backend, is accepted as written.
SEED_NAMES = [
    "qwen2.5:7b",
    "qwen2.5:14b",
    "llama3.2:3b",
    "deepseek-coder:6.7b",
    "nomic-embed-text:latest",
    "Qwen/Qwen2.5-14B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
    "deepseek-ai/DeepSeek-V2-Lite",
    "qwen2.5-7b-instruct-q4_k_m.gguf",
    "llama-3.1-8b-instruct-q5_k_m.gguf",
]


@pytest.mark.parametrize("name", SEED_NAMES)
def test_the_seed_names_are_valid_and_already_in_their_one_spelling(name: str) -> None:
    assert canonical_model_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "hf:Qwen/Qwen2.5-7B-Instruct",
        "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
        "./models/My Model.gguf",
        "https://huggingface.co/x/y/resolve/main/m.Q4_K_M.gguf",
        "library/qwen2.5:7b",
    ],
)
def test_other_real_forms_are_accepted(name: str) -> None:
    assert canonical_model_name(name)


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "give a model name"),
        ("   ", "give a model name"),
        ("-x", "never start with '-'"),
        ("qwen 2.5", "no spaces"),
        ("a" * 300, "at most 128"),
        ("qwen2.5:", "not an Ollama model name"),
        ("a:b:c", "not an Ollama model name"),
        ("x..y:7b", "not an Ollama model name"),
        ("Org/Re--po-7B", "not a Hugging Face repo id"),
        ("a/b/c/d", "not a Hugging Face repo id"),
        ("qwen2.5:7b;rm", "not an Ollama model name"),
    ],
)
def test_what_is_refused_and_why(name: str, says: str) -> None:
    with pytest.raises(InvalidModelName, match=says.replace(".", r"\.")):
        canonical_model_name(name)


def test_surrounding_whitespace_is_trimmed_not_refused() -> None:
    assert canonical_model_name(" qwen2.5:7b\n") == "qwen2.5:7b"


def test_ollama_library_names_have_one_lower_case_spelling_hub_ids_keep_theirs() -> None:
    assert canonical_model_name("Qwen2.5:7B") == "qwen2.5:7b"
    assert canonical_model_name("Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"
    assert same_model_name("Qwen2.5:7B", "qwen2.5:7b")
    assert same_model_name("llama3.2", "llama3.2:latest")
    assert not same_model_name("qwen2.5:7b", "qwen2.5:72b")
