"""Payout chains (Book §6.4): which exist, their minimum payout, and valid addresses.

| chain    | token | min payout | address                                   |
|----------|-------|------------|-------------------------------------------|
| base     | USDC  | 1.00       | 0x + 40 hex, EIP-55 checksum if mixed-case |
| ethereum | USDC  | 10.00      | same                                      |
| polygon  | USDC  | 1.00       | same                                      |
| arbitrum | USDC  | 1.00 [1]   | same                                      |
| solana   | USDC  | 1.00       | base58 of a 32-byte public key             |

[1] The Book leaves Arbitrum's minimum unspecified; we use 1.00, as for the other L2s.

EVM addresses: all-lower-case or all-upper-case hex carries no checksum and is accepted as
written; a mixed-case address must match its EIP-55 checksum (Keccak-256 of the lower-case
hex), so a single mistyped character is caught. Only USDC is paid out: the Book's
getting-started variant mentions BTC destinations, which this build does not support and
says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from infernet.protocol.keccak import keccak256

DEFAULT_CHAIN = "base"
SUPPORTED_COINS = ("USDC",)
_EVM_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class AddressError(ValueError):
    """A payout destination that is not valid for its chain; the message says why."""


@dataclass(frozen=True, slots=True)
class Chain:
    name: str
    token: str
    min_payout: Decimal
    kind: str  # "evm" or "solana"


CHAINS: dict[str, Chain] = {
    c.name: c
    for c in (
        Chain("base", "USDC", Decimal("1.00"), "evm"),
        Chain("ethereum", "USDC", Decimal("10.00"), "evm"),
        Chain("polygon", "USDC", Decimal("1.00"), "evm"),
        Chain("arbitrum", "USDC", Decimal("1.00"), "evm"),
        Chain("solana", "USDC", Decimal("1.00"), "solana"),
    )
}


def chain(name: str) -> Chain:
    found = CHAINS.get(name.strip().lower())
    if found is None:
        raise AddressError(f"unknown chain '{name}'; supported: {', '.join(CHAINS)}")
    return found


def eip55(address: str) -> str:
    """The EIP-55 checksummed spelling of a 0x-prefixed 40-hex-digit address."""
    lower = address[2:].lower()
    digest = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(
        ch.upper() if ch.isalpha() and int(digest[i], 16) >= 8 else ch for i, ch in enumerate(lower)
    )


def validate_evm(address: str) -> str:
    """The address as given if valid; raises `AddressError` saying what is wrong."""
    if not _EVM_RE.fullmatch(address):
        raise AddressError("an EVM address is 0x followed by 40 hex digits")
    body = address[2:]
    if body == body.lower() or body == body.upper():
        return address  # no checksum to check
    if eip55(address) != address:
        raise AddressError(
            "the address's mixed-case checksum (EIP-55) does not match: a character is "
            "probably mistyped; copy it again from your wallet"
        )
    return address


def b58decode(text: str) -> bytes:
    number = 0
    for ch in text:
        index = _B58_ALPHABET.find(ch)
        if index < 0:
            raise AddressError(f"'{ch}' is not a base58 character")
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    leading = len(text) - len(text.lstrip("1"))
    return b"\x00" * leading + body


def validate_solana(address: str) -> str:
    if not address:
        raise AddressError("the address is empty")
    if len(b58decode(address)) != 32:
        raise AddressError("a Solana address is the base58 form of 32 bytes")
    return address


def validate_address(chain_name: str, address: str) -> str:
    """Check `address` for `chain_name`; returns it unchanged, or raises `AddressError`."""
    target = chain(chain_name)
    address = address.strip()
    if target.kind == "evm":
        return validate_evm(address)
    return validate_solana(address)


def check_coin(coin: str) -> str:
    upper = coin.strip().upper()
    if upper not in SUPPORTED_COINS:
        raise AddressError(
            f"only {', '.join(SUPPORTED_COINS)} payouts are supported in this build, not {coin}"
        )
    return upper
