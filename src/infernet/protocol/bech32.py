"""Bech32 (BIP-173) encoding for Nostr NIP-19 key strings (``npub1…`` / ``nsec1…``).

NIP-19 uses classic bech32 (not bech32m) with a human-readable prefix and the raw 32-byte
key converted to 5-bit groups. Only the plain key forms are handled here; TLV forms
(``nprofile``, ``nevent``) are not something Infernet exchanges.
"""

from __future__ import annotations

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_MAX_LENGTH = 90


class Bech32Error(ValueError):
    """A string is not valid bech32, or carries the wrong prefix or payload length."""


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, *, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out: list[int] = []
    max_value = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & max_value)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & max_value)
    elif bits >= from_bits or ((acc << (to_bits - bits)) & max_value):
        raise Bech32Error("bech32 payload has invalid padding bits")
    return out


def encode(hrp: str, payload: bytes) -> str:
    """Encode ``payload`` as bech32 with human-readable prefix ``hrp`` (lower case)."""
    data = _convert_bits(payload, 8, 5, pad=True)
    values = _hrp_expand(hrp) + data
    polymod = _polymod([*values, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in data + checksum)


def decode(text: str) -> tuple[str, bytes]:
    """Decode a bech32 string into ``(hrp, payload)``; raise `Bech32Error` if invalid."""
    if len(text) > _MAX_LENGTH:
        raise Bech32Error(f"bech32 string is longer than {_MAX_LENGTH} characters")
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("bech32 string mixes upper and lower case")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1 or sep + 7 > len(text):
        raise Bech32Error("bech32 string has no valid '1' separator")
    hrp, rest = text[:sep], text[sep + 1 :]
    if any(c not in _CHARSET for c in rest) or any(not 33 <= ord(c) <= 126 for c in hrp):
        raise Bech32Error("bech32 string contains characters outside the bech32 alphabet")
    data = [_CHARSET.index(c) for c in rest]
    if _polymod(_hrp_expand(hrp) + data) != 1:
        raise Bech32Error("bech32 checksum does not match (typo in the key?)")
    return hrp, bytes(_convert_bits(data[:-6], 5, 8, pad=False))


def decode_key(expected_hrp: str, text: str) -> bytes:
    """Decode a NIP-19 key string (``npub``/``nsec``) into its 32 raw bytes."""
    hrp, payload = decode(text)
    if hrp != expected_hrp:
        raise Bech32Error(f"expected a {expected_hrp}1… string, got prefix {hrp!r}")
    if len(payload) != 32:
        raise Bech32Error(f"{expected_hrp} must carry 32 bytes, got {len(payload)}")
    return payload
