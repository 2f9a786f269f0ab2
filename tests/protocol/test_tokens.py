"""Bounds on a prompt's tokens without the model's tokenizer, and the KV-cache arithmetic.

The bounds are checked against a real tokenizer in tests/e2e/test_context_e2e.py (SmolLM2's,
through the engine); here they are checked for what they promise on any text.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from infernet.protocol.kvcache import (
    MIN_CONTEXT,
    affordable_context,
    kv_bytes_per_token,
    trained_context,
)
from infernet.protocol.tokens import (
    MAX_TOKEN_BYTES,
    TEMPLATE_FIXED,
    TEMPLATE_PER_MESSAGE,
    prompt_bounds,
)


@dataclass(frozen=True)
class Msg:
    role: str
    content: str


def test_a_word_is_at_least_one_token_and_a_byte_at_most_one() -> None:
    bounds = prompt_bounds([Msg("system", "Be brief."), Msg("user", "What is the capital?")])
    assert bounds.lower == 2 + 4
    template = 2 * TEMPLATE_PER_MESSAGE + TEMPLATE_FIXED
    assert bounds.upper == len("Be brief.") + len("What is the capital?") + template
    assert not bounds.is_exact


def test_multibyte_text_counts_its_bytes_for_the_upper_bound() -> None:
    text = "日本語のテキスト"  # one "word" of 8 characters, 24 bytes
    bounds = prompt_bounds([Msg("user", text)])
    assert (bounds.lower, bounds.upper) == (1, 24 + TEMPLATE_PER_MESSAGE + TEMPLATE_FIXED)


def test_a_word_longer_than_any_token_needs_more_than_one() -> None:
    bounds = prompt_bounds([Msg("user", "x" * (MAX_TOKEN_BYTES * 2 + 1))])
    assert bounds.lower == 3


def test_earlier_reasoning_that_templates_drop_is_not_counted_as_certain() -> None:
    answer = Msg("assistant", "<think>many words of thought here</think>Paris.")
    bounds = prompt_bounds([Msg("user", "Capital of France?"), answer])
    assert bounds.lower == 3 + 1  # "Paris." and the question; not the reasoning
    assert bounds.upper > len(answer.content)  # the upper bound still counts every byte


def test_no_messages_take_no_tokens() -> None:
    assert (prompt_bounds([]).lower, prompt_bounds([]).upper) == (0, 0)


@given(st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]), st.text())))
def test_the_lower_bound_never_exceeds_the_upper(messages: list[tuple[str, str]]) -> None:
    bounds = prompt_bounds([Msg(role, content) for role, content in messages])
    assert 0 <= bounds.lower <= bounds.upper


# -- KV cache ------------------------------------------------------------------------------

SMOLLM2 = {  # SmolLM2-135M-Instruct's GGUF metadata, as llama-cpp-python hands it (strings)
    "general.architecture": "llama",
    "llama.context_length": "8192",
    "llama.block_count": "30",
    "llama.embedding_length": "576",
    "llama.attention.head_count": "9",
    "llama.attention.head_count_kv": "3",
}


def test_the_kv_cache_of_smollm2_takes_23_kib_a_token() -> None:
    assert trained_context(SMOLLM2) == 8192
    assert kv_bytes_per_token(SMOLLM2) == 30 * 3 * (64 + 64) * 2  # 23,040 bytes


def test_the_trained_context_is_kept_when_memory_holds_its_cache() -> None:
    per_token = 23_040
    assert affordable_context(8192, per_token, 8192 * per_token) == 8192
    assert affordable_context(8192, per_token, 8192 * per_token - 1) == 4096
    assert affordable_context(8192, per_token, 1) == MIN_CONTEXT  # a model runs at all
    assert affordable_context(8192, None, 1) == 8192  # unknown sizes: nothing to lower
    assert affordable_context(1024, per_token, 1) == 1024  # never above the trained one


def test_metadata_without_sizes_gives_no_cache_estimate() -> None:
    assert kv_bytes_per_token({"general.architecture": "llama"}) is None
    assert trained_context({}) is None
