"""The VRAM tier vocabulary: the one definition node and control plane share.

A node reports its tier in every heartbeat; the control plane ranks, prices and matches
nodes by it; the operator may pin it in the config (`vram_tier`, for multi-GPU rigs).
All of them use these names, in this order (highest first), with these minimum sizes.
How a machine is classified into a tier lives in `infernet.node.hardware`; what each tier
should run lives in `infernet.protocol.vram`.
"""

from __future__ import annotations

from typing import Literal, get_args

Tier = Literal[">=48gb", ">=24gb", ">=12gb", ">=8gb", "cpu"]
TIERS: tuple[Tier, ...] = get_args(Tier)  # highest first
# Marketed VRAM (GB) a node needs for each GPU tier; `cpu` is everything below 8 GB.
TIER_SIZES_GB: dict[Tier, int] = {">=48gb": 48, ">=24gb": 24, ">=12gb": 12, ">=8gb": 8}
# 0 for `cpu` up to 4 for `>=48gb`: for comparisons ("at least >=12gb").
TIER_RANK: dict[Tier, int] = {tier: len(TIERS) - 1 - i for i, tier in enumerate(TIERS)}
FLAGSHIP_TIER: Tier = TIERS[0]


class UnknownTier(ValueError):
    """A tier name outside the vocabulary; the message lists the valid ones."""


def parse_tier(text: str) -> Tier:
    """`text` as a tier (surrounding spaces and case forgiven), or `UnknownTier`."""
    wanted = text.strip().lower()
    for tier in TIERS:
        if tier == wanted:
            return tier
    raise UnknownTier(f"{text!r} is not a VRAM tier; use one of {', '.join(TIERS)}.")
