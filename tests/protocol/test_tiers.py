"""One tier vocabulary for node and control plane."""

from __future__ import annotations

import pytest

from infernet.protocol import tiers, vram
from infernet.protocol.tiers import TIER_RANK, TIERS, UnknownTier, parse_tier


def test_the_tiers_are_the_books_five_highest_first() -> None:
    assert TIERS == (">=48gb", ">=24gb", ">=12gb", ">=8gb", "cpu")
    assert [TIER_RANK[t] for t in TIERS] == [4, 3, 2, 1, 0]


def test_the_vram_module_uses_the_same_definition() -> None:
    assert vram.TIERS is tiers.TIERS and vram.Tier is tiers.Tier


@pytest.mark.parametrize("text", ["bogus", ">=16gb", "24gb", ""])
def test_anything_else_is_refused_with_the_list(text: str) -> None:
    with pytest.raises(UnknownTier, match=">=48gb, >=24gb, >=12gb, >=8gb, cpu"):
        parse_tier(text)


def test_spacing_and_case_are_forgiven() -> None:
    assert parse_tier(" >=24GB ") == ">=24gb"
