"""VRAM-fit math: the seed's rule of thumb, the documented overhead, honest verdicts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infernet.protocol.vram import (
    BYTES_PER_PARAM,
    FIT_HEADROOM,
    TIER_DEFAULT_MODEL,
    Tier,
    UnknownQuantization,
    check_fit,
    estimate_vram,
    model_spec,
    overhead_gb,
    recommend,
    weights_gb,
)

# The seed's table: model size -> (FP16, INT8, Q4) VRAM in GB.
SEED_TABLE = {3: (6, 3, 1.5), 7: (14, 7, 3.5), 14: (28, 14, 7), 32: (64, 32, 16), 70: (140, 70, 35)}


@pytest.mark.parametrize(("params_b", "expected"), SEED_TABLE.items())
def test_weights_reproduce_the_seed_table_exactly(
    params_b: int, expected: tuple[float, float, float]
) -> None:
    fp16, int8, q4 = expected
    assert weights_gb(params_b, "fp16") == fp16
    assert weights_gb(params_b, "int8") == int8
    assert weights_gb(params_b, "q4") == q4


def test_other_quantizations_use_their_bits_over_eight() -> None:
    assert weights_gb(8, "q8") == 8.0
    assert weights_gb(8, "q6") == 6.0
    assert weights_gb(8, "q5") == 5.0
    assert weights_gb(8, "bf16") == 16.0
    assert weights_gb(8, "Q4") == 4.0


def test_an_unknown_quantization_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(UnknownQuantization, match="fp16"):
        weights_gb(7, "q11")


def test_overhead_is_ten_percent_of_the_weights_plus_one_gb() -> None:
    assert overhead_gb(10.0) == pytest.approx(2.0)
    estimate = estimate_vram("somefamily:7b")  # not catalogued: size from the name
    assert estimate is not None
    assert (estimate.weights_gb, estimate.quant) == (3.5, "q4")
    assert estimate.total_gb == pytest.approx(3.5 + 0.35 + 1.0)


@given(st.floats(min_value=0.1, max_value=500), st.sampled_from(sorted(BYTES_PER_PARAM)))
def test_the_estimate_is_never_below_the_weights(params_b: float, quant: str) -> None:
    weights = weights_gb(params_b, quant)
    assert weights + overhead_gb(weights) > weights


# --- reading size and quantization from names -------------------------------------------


@pytest.mark.parametrize(
    ("name", "params_b", "quant", "default"),
    [
        ("qwen2.5:14b", 14.7, "q4", True),  # Ollama pulls Q4 by default
        ("qwen2.5:14b-instruct-q4_K_M", 14.7, "q4", False),
        ("qwen2.5:14b-instruct-fp16", 14.7, "fp16", False),
        ("llama3.2:3b", 3.21, "q4", True),
        ("deepseek-coder:6.7b", 6.74, "q4", True),
        ("Qwen/Qwen2.5-14B-Instruct", 14.7, "fp16", True),  # HF ids are 16-bit
        ("meta-llama/Llama-3.1-8B-Instruct", 8.03, "fp16", True),
        ("hf:Qwen/Qwen2.5-Coder-7B-Instruct", 7.62, "fp16", True),
        ("llama-3.1-8b-instruct-q5_k_m.gguf", 8.03, "q5", False),
        ("qwen2.5-7b-instruct-q4_k_m.gguf", 7.62, "q4", False),
        ("SmolLM2-135M-Instruct.Q4_1.gguf", 0.135, "q4", False),
        ("smollm2:135m", 0.135, "fp16", True),  # this Ollama tag is FP16
        ("nomic-embed-text:latest", 0.137, "fp16", True),
        ("newmodel-3b-instruct-q8_0.gguf", 3.0, "q8", False),  # not catalogued: from the name
    ],
)
def test_size_and_quantization_are_read_from_any_backends_name(
    name: str, params_b: float, quant: str, default: bool
) -> None:
    spec = model_spec(name)
    assert (spec.params_b, spec.quant, spec.quant_is_default) == (params_b, quant, default)


def test_the_family_is_reported() -> None:
    assert model_spec("Qwen/Qwen2.5-14B-Instruct").family == "qwen2.5"
    assert model_spec("deepseek-ai/DeepSeek-V2-Lite").family == "deepseek-v2"
    assert model_spec("nomic-embed-text:latest").kind == "embedding"


# --- verdicts ---------------------------------------------------------------------------


def test_qwen_14b_q4_fits_a_24_gb_card_and_says_how_much_it_needs() -> None:
    result = check_fit("qwen2.5:14b", 24.0)
    assert result.verdict == "fits"
    assert "needs about 9.1 GB" in result.message
    assert "7.3 GB weights" in result.message
    assert "q4 default" in result.message


def test_a_model_using_almost_all_vram_is_tight() -> None:
    assert check_fit("qwen2.5:14b", 9.5).verdict == "tight"


def test_70b_at_full_precision_does_not_fit_an_80_gb_card_and_suggests_quantizing() -> None:
    result = check_fit("llama3.1:70b", 80.0, quant="fp16")
    assert result.verdict == "does_not_fit"
    assert "Q4" in result.message
    assert check_fit("llama3.1:70b", 80.0, quant="q4").verdict == "fits"


def test_a_model_of_unknown_size_is_unknown_not_guessed() -> None:
    result = check_fit("my-finetune:latest", 24.0)
    assert result.verdict == "unknown"
    assert result.estimate is None
    assert "parameter count" in result.message
    assert estimate_vram("my-finetune:latest") is None


def test_a_gguf_file_without_a_quant_suffix_has_unknown_vram() -> None:
    result = check_fit("mystery-7b-instruct.gguf", 24.0)
    assert result.verdict == "unknown"
    assert "quantization" in result.message


# --- recommendations --------------------------------------------------------------------


def test_tier_default_models_follow_the_book() -> None:
    assert TIER_DEFAULT_MODEL == {
        ">=48gb": "qwen2.5:72b",
        ">=24gb": "qwen2.5:14b",
        ">=12gb": "qwen2.5:7b",
        ">=8gb": "qwen2.5:7b",
        "cpu": "qwen2.5:1.5b",
    }


@pytest.mark.parametrize(
    ("tier", "vram_gb"),
    [(">=48gb", 85.5), (">=24gb", 25.7), (">=12gb", 12.9), (">=8gb", 8.6)],
)
def test_recommendations_put_the_tier_default_first_and_all_fit(tier: Tier, vram_gb: float) -> None:
    picks = recommend(tier, vram_gb)
    assert picks[0].entry.key == TIER_DEFAULT_MODEL[tier]
    assert picks[0].is_tier_default
    assert all(p.estimate_gb <= vram_gb * FIT_HEADROOM for p in picks)
    assert sum(p.is_tier_default for p in picks) == 1


def test_recommendations_choose_the_best_precision_that_fits() -> None:
    picks = {p.entry.key: p.quant for p in recommend(">=48gb", 51.5)}  # 48 GiB
    assert picks["qwen2.5:72b"] == "q4"
    assert picks["qwen2.5:32b"] == "q8"
    assert picks["qwen2.5:14b"] == "fp16"


def test_a_24_gb_card_is_not_offered_70b_models() -> None:
    keys = {p.entry.key for p in recommend(">=24gb", 25.7)}
    assert "qwen2.5:72b" not in keys
    assert "llama3.1:70b" not in keys
    assert "qwen2.5:14b" in keys


def test_cpu_nodes_get_small_models_and_embeddings_only() -> None:
    picks = recommend("cpu", 0.0)
    assert picks[0].entry.key == "qwen2.5:1.5b"
    assert all(p.entry.params_b <= 3.5 or p.entry.kind == "embedding" for p in picks)
    assert "qwen2.5:7b" not in {p.entry.key for p in picks}
    assert picks[-1].entry.kind == "embedding"


def test_a_model_already_at_q4_is_never_told_to_choose_a_smaller_quantization() -> None:
    result = check_fit("qwen2.5:72b", 24.0)  # Ollama's tag pulls Q4
    assert result.verdict == "does_not_fit"
    assert "choose a smaller model" in result.message
    assert "smaller quantization" not in result.message


def test_a_16_bit_model_that_would_fit_at_4_bit_is_told_so_with_the_number() -> None:
    result = check_fit("Qwen/Qwen2.5-14B-Instruct", 24.0)  # FP16: 33.3 GB
    assert result.verdict == "does_not_fit"
    assert "A 4-bit build would need about 9.1 GB" in result.message


def test_recommendations_for_a_backend_use_the_size_its_name_installs() -> None:
    """What `model recommend` lists is what `model info` and the install check say."""
    for backend in ("ollama", "vllm", "llamacpp"):
        for pick in recommend(">=24gb", 25.7, backend):
            assert pick.name is not None
            estimate = estimate_vram(pick.name)
            assert estimate is not None and estimate.total_gb == pick.estimate_gb
            assert check_fit(pick.name, 25.7).verdict == "fits"
    ollama = {p.entry.key: p for p in recommend(">=24gb", 25.7, "ollama")}
    assert (ollama["qwen2.5:14b"].quant, round(ollama["qwen2.5:14b"].estimate_gb, 1)) == ("q4", 9.1)
    assert "qwen2.5:0.5b" not in {p.entry.key for p in recommend(">=24gb", 25.7, "llamacpp")}
