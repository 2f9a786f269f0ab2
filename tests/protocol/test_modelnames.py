"""Model names: one routing key per model whatever the backend calls it, and resolution
that never hands a client a different model than the one it asked for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infernet.protocol.modelnames import (
    CATALOGUE,
    AmbiguousModelName,
    UnknownBackend,
    UnknownModelName,
    names_for_backend,
    parse_model_name,
    quant_level,
    resolve_model,
    routing_key,
)

# The names the model-management seed page lists, per backend.
SEED_NAMES = [
    "qwen2.5:7b",
    "qwen2.5:14b",
    "qwen2.5:72b",
    "llama3.2:3b",
    "llama3.1:8b",
    "deepseek-coder:6.7b",
    "nomic-embed-text:latest",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2.5-14B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
    "deepseek-ai/DeepSeek-V2-Lite",
    "qwen2.5-7b-instruct-q4_k_m.gguf",
    "llama-3.1-8b-instruct-q5_k_m.gguf",
    "qwen2.5:32b",
    "qwen2.5:14b-instruct-q4_K_M",
    "qwen2.5:14b-instruct-fp16",
]


@pytest.mark.parametrize(
    "name",
    [
        "qwen2.5:14b",
        "Qwen/Qwen2.5-14B-Instruct",
        "hf:Qwen/Qwen2.5-14B-Instruct",
        "qwen2.5-14b-instruct-q4_k_m.gguf",
        "qwen2.5:14b-instruct-q4_K_M",
        "qwen2.5:14b-instruct-fp16",
        "Qwen2.5-14B-Instruct",  # a vLLM --served-model-name or llama-swap key
    ],
)
def test_every_name_of_qwen_14b_routes_to_one_key(name: str) -> None:
    assert routing_key(name) == "qwen2.5:14b"


@pytest.mark.parametrize(
    "name",
    [
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "smollm2:135m",
        "models/SmolLM2-135M-Instruct.Q4_1.gguf",
    ],
)
def test_every_name_of_smollm2_135m_routes_to_one_key(name: str) -> None:
    assert routing_key(name) == "smollm2:135m"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", "llama3.1:8b"),
        ("llama-3.1-8b-instruct-q5_k_m.gguf", "llama3.1:8b"),
        ("meta-llama/Meta-Llama-3-8B-Instruct", "llama3:8b"),
        ("hf:Qwen/Qwen2.5-Coder-7B-Instruct", "qwen2.5-coder:7b"),
        ("qwen2.5-coder:7b", "qwen2.5-coder:7b"),
        ("deepseek-coder:6.7b", "deepseek-coder:6.7b"),
        ("deepseek-ai/deepseek-coder-6.7b-instruct", "deepseek-coder:6.7b"),
        ("nomic-embed-text:latest", "nomic-embed-text"),
        ("nomic-embed-text", "nomic-embed-text"),
        ("nomic-ai/nomic-embed-text-v1.5", "nomic-embed-text"),
        ("gemma-2-9b-it", "gemma2:9b"),
        ("mistralai/Mistral-7B-Instruct-v0.3", "mistral:7b"),
        ("hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M", "llama3.2:3b"),
    ],
)
def test_names_from_different_backends_meet_on_the_ollama_style_key(name: str, key: str) -> None:
    assert routing_key(name) == key


def test_base_and_instruct_models_are_different_models() -> None:
    assert routing_key("Qwen/Qwen2.5-7B") == "qwen2.5:7b-base"
    assert routing_key("llama3.1:8b-text-q4_0") == "llama3.1:8b-base"
    assert routing_key("qwen2.5:7b") == "qwen2.5:7b"  # Ollama's default tag is the instruct model
    assert routing_key("deepseek-ai/DeepSeek-V2-Lite") != routing_key("deepseek-v2:16b")


def test_sizes_and_versions_in_a_name_stay_part_of_its_identity() -> None:
    assert routing_key("qwen2.5:7b") != routing_key("qwen2.5:72b")
    assert routing_key("Qwen/Qwen2.5-14B-Instruct-1M") == "qwen2.5:14b-1m"
    assert routing_key("mistralai/Mistral-7B-v0.3") == "mistral:7b-v0.3-base"


@given(
    st.sampled_from(
        SEED_NAMES + [n for e in CATALOGUE for n in (e.ollama, e.huggingface, e.gguf) if n]
    )
)
def test_a_routing_key_is_its_own_routing_key(name: str) -> None:
    key = routing_key(name)
    assert routing_key(key) == key


def test_every_catalogued_name_routes_to_its_entry() -> None:
    for entry in CATALOGUE:
        for name in (entry.ollama, entry.huggingface, entry.gguf):
            if name is not None:
                assert routing_key(name) == entry.key, name


def test_parsing_reads_size_quantization_and_format() -> None:
    ollama = parse_model_name("qwen2.5:14b-instruct-q4_K_M")
    assert (ollama.format, ollama.family, ollama.size, ollama.params_b) == (
        "ollama",
        "qwen2.5",
        "14b",
        14.0,
    )
    assert (ollama.quant, ollama.quant_tag) == ("q4", "q4_k_m")
    gguf = parse_model_name("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert (gguf.format, gguf.params_b, gguf.quant) == ("gguf", 0.135, "q4")
    hf = parse_model_name("hf:Qwen/Qwen2.5-Coder-7B-Instruct")
    assert (hf.format, hf.family, hf.quant) == ("huggingface", "qwen2.5-coder", None)
    assert parse_model_name("deepseek-coder:6.7b").params_b == 6.7


def test_a_mixture_of_experts_size_is_not_turned_into_a_parameter_count() -> None:
    assert parse_model_name("mixtral:8x7b").size == "8x7b"
    assert parse_model_name("mixtral:8x7b").params_b is None


@pytest.mark.parametrize(
    ("token", "level"),
    [
        ("q4_K_M", "q4"),
        ("Q8_0", "q8"),
        ("q5_k_m", "q5"),
        ("iq4_xs", "q4"),
        ("fp16", "fp16"),
        ("F16", "fp16"),
        ("bf16", "bf16"),
        ("int8", "int8"),
        ("awq", "int4"),
        ("instruct", None),
    ],
)
def test_quantization_words_map_to_a_level(token: str, level: str | None) -> None:
    assert quant_level(token) == level


def test_a_bit_width_beats_a_method_name() -> None:
    assert parse_model_name("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int8").quant == "int8"
    assert parse_model_name("Qwen/Qwen2.5-7B-Instruct-AWQ").quant == "int4"


# --- names per backend ------------------------------------------------------------------


def test_the_catalogue_gives_each_backend_its_own_name() -> None:
    assert names_for_backend("qwen2.5:14b", "vllm") == "Qwen/Qwen2.5-14B-Instruct"
    assert names_for_backend("Qwen/Qwen2.5-14B-Instruct", "ollama") == "qwen2.5:14b"
    assert names_for_backend("qwen2.5:7b", "llamacpp") == "qwen2.5-7b-instruct-q4_k_m.gguf"
    assert names_for_backend("llama3.1:8b", "llamacpp") == "llama-3.1-8b-instruct-q5_k_m.gguf"
    assert names_for_backend("smollm2:135m", "sglang") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert names_for_backend("smollm2:135m", "llamacpp") == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_unknown_models_and_missing_names_give_none_not_a_guess() -> None:
    assert names_for_backend("some-private-model:3b", "vllm") is None
    assert names_for_backend("qwen2.5:72b", "llamacpp") is None


def test_an_unknown_backend_is_an_error_listing_the_known_ones() -> None:
    with pytest.raises(UnknownBackend, match="ollama"):
        names_for_backend("qwen2.5:7b", "tensorrt")


# --- resolution -------------------------------------------------------------------------


def test_a_request_in_any_format_resolves_to_the_served_key() -> None:
    served = ["qwen2.5:14b", "llama3.2:3b"]
    assert resolve_model("Qwen/Qwen2.5-14B-Instruct", served) == "qwen2.5:14b"
    assert resolve_model("qwen2.5-14b-instruct-q4_k_m.gguf", served) == "qwen2.5:14b"


def test_served_names_may_be_given_in_backend_format() -> None:
    assert resolve_model("qwen2.5:7b", ["Qwen/Qwen2.5-7B-Instruct"]) == "qwen2.5:7b"


def test_a_family_without_size_is_ambiguous_when_several_sizes_are_served() -> None:
    with pytest.raises(AmbiguousModelName) as caught:
        resolve_model("qwen2.5", ["qwen2.5:7b", "qwen2.5:14b", "llama3.2:3b"])
    assert caught.value.candidates == ("qwen2.5:14b", "qwen2.5:7b")
    assert "qwen2.5:14b, qwen2.5:7b" in str(caught.value)


def test_a_family_without_size_resolves_when_only_one_size_is_served() -> None:
    assert resolve_model("qwen2.5", ["qwen2.5:14b", "llama3.2:3b"]) == "qwen2.5:14b"


def test_7b_never_matches_72b() -> None:
    with pytest.raises(UnknownModelName) as caught:
        resolve_model("qwen2.5:7b", ["qwen2.5:72b"])
    assert caught.value.candidates == ("qwen2.5:72b",)
    assert "qwen2.5:72b" in str(caught.value)


def test_a_base_model_request_never_gets_the_instruct_model() -> None:
    with pytest.raises(UnknownModelName):
        resolve_model("Qwen/Qwen2.5-7B", ["qwen2.5:7b"])
    with pytest.raises(UnknownModelName):
        resolve_model("qwen2.5:7b", ["qwen2.5:7b-base"])


def test_a_model_nobody_serves_is_unknown_with_a_hint() -> None:
    with pytest.raises(UnknownModelName, match="infernet model install") as caught:
        resolve_model("mistral:7b", ["qwen2.5:7b"])
    assert caught.value.candidates == ()
