"""Default prices per model size (Book §8.6), the tier premium, and the money arithmetic
both sides share (exact decimals, 6 places, the 15 % fee)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from infernet.controlplane.money.billing import hold_amount, prompt_bound
from infernet.controlplane.money.pricing import UNKNOWN_SIZE_OUTPUT, default_price
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.protocol.confidential import seal_prompt
from infernet.protocol.keys import NodeKey
from infernet.protocol.money import MoneyError, job_value, price, split_fee, usdc
from infernet.protocol.wire import ChatMessageIn


@pytest.mark.parametrize(
    ("model", "output"),
    [
        ("SmolLM2-135M-Instruct-Q8_0.gguf", "0.001"),
        ("llama3.2:3b", "0.001"),
        ("qwen2.5:7b", "0.002"),
        ("qwen2.5:14b", "0.005"),
        ("qwen2.5:32b", "0.012"),
        ("llama3.3:70b", "0.025"),
    ],
)
def test_defaults_follow_the_books_table_with_input_a_quarter_of_output(
    model: str, output: str
) -> None:
    found = default_price(model)
    assert found.output_per_1k == Decimal(output)
    assert found.input_per_1k == Decimal(output) / 4
    assert found.source == "default"


def test_a_model_of_unknown_size_gets_the_middle_band_never_zero() -> None:
    assert default_price("mystery-model").output_per_1k == UNKNOWN_SIZE_OUTPUT > 0


def test_the_48gb_tier_charges_a_20_percent_premium() -> None:
    assert default_price("qwen2.5:14b", ">=48gb").output_per_1k == Decimal("0.006")
    assert default_price("qwen2.5:14b", ">=48gb").input_per_1k == Decimal("0.0015")


def test_the_books_fee_example_splits_exactly() -> None:
    assert split_fee(usdc("0.00156")) == (Decimal("0.001326"), Decimal("0.000234"))


def test_a_jobs_value_is_rounded_to_six_places() -> None:
    value = job_value(24, 312, Decimal("0.00125"), Decimal("0.005"))
    assert value == Decimal("0.00159") and value.as_tuple().exponent == -6


@pytest.mark.parametrize("bad", ["0", "-1", "0.0000001", "abc", "1000"])
def test_prices_are_positive_six_place_decimals(bad: str) -> None:
    with pytest.raises(MoneyError):
        price(bad)


def test_floats_are_never_money() -> None:
    with pytest.raises(MoneyError):
        usdc(0.1)  # type: ignore[arg-type]


def test_the_hold_covers_the_prompt_bound_on_every_attempt_and_max_tokens() -> None:
    job = JobCreate(model="m:1b", messages=[{"role": "user", "content": "héllo"}], max_tokens=10)
    assert prompt_bound(job) == len("héllo".encode()) + 16 + 64
    p = default_price("m:1b")
    assert hold_amount(job, p, 3) == job_value(
        prompt_bound(job) * 3 + 10, 10, p.input_per_1k, p.output_per_1k
    )


@pytest.mark.parametrize("size", [1, 300, 5_000, 60_000])
def test_a_confidential_prompt_is_held_for_at_least_what_its_ciphertext_can_hold(
    size: int,
) -> None:
    # The control plane cannot read it, so the bound comes from the ciphertext's size.
    messages = [ChatMessageIn(role="user", content="é" * (size // 2) + "x" * (size % 2))]
    sealed, _ = seal_prompt(messages, NodeKey.generate(), NodeKey.generate().public_hex)
    job = JobCreate(model="m:1b", encrypted=sealed, node_id="node-1", max_tokens=10)
    plain = JobCreate(model="m:1b", messages=messages, max_tokens=10)
    assert prompt_bound(job) >= prompt_bound(plain)
