"""Keccak-256 against published vectors; payout address validation per chain."""

from __future__ import annotations

import pytest

from infernet.protocol.chains import CHAINS, AddressError, eip55, validate_address
from infernet.protocol.keccak import keccak256


@pytest.mark.parametrize(
    ("data", "digest"),
    [
        (b"", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
        (b"abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
        (
            b"The quick brown fox jumps over the lazy dog",
            "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15",
        ),
    ],
)
def test_keccak256_matches_the_published_vectors(data: bytes, digest: str) -> None:
    assert keccak256(data).hex() == digest


def test_keccak_spans_several_blocks() -> None:
    assert len(keccak256(b"x" * 1000)) == 32 and keccak256(b"x" * 136) != keccak256(b"x" * 135)


@pytest.mark.parametrize(  # the EIP-55 specification's own examples
    "address",
    [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ],
)
def test_eip55_checksums_match_the_specification(address: str) -> None:
    assert eip55(address.lower()) == address
    assert validate_address("base", address) == address


def test_single_case_addresses_carry_no_checksum_and_are_accepted() -> None:
    lower = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
    assert validate_address("ethereum", lower) == lower
    assert validate_address("polygon", "0x" + lower[2:].upper()) == "0x" + lower[2:].upper()


@pytest.mark.parametrize(
    ("chain", "address", "why"),
    [
        ("base", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "checksum"),
        ("arbitrum", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA", "40 hex"),
        ("solana", "So1111111111111111111111111111111111111111l", "base58"),
        ("solana", "111", "32 bytes"),
        ("dogechain", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "unknown chain"),
    ],
)
def test_invalid_addresses_are_refused_with_the_reason(chain: str, address: str, why: str) -> None:
    with pytest.raises(AddressError, match=why):
        validate_address(chain, address)


def test_chain_minimums_follow_the_book() -> None:
    assert {name: str(c.min_payout) for name, c in CHAINS.items()} == {
        "base": "1.00",
        "ethereum": "10.00",
        "polygon": "1.00",
        "arbitrum": "1.00",
        "solana": "1.00",
    }
