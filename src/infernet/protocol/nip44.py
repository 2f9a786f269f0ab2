"""NIP-44 version 2 encryption, for confidential inference (Book §6.6, IPIP-0028).

Owns the payload format that lets a client encrypt a prompt to a model key so that the
control plane relays only ciphertext: secp256k1 ECDH → HKDF-SHA256 conversation key →
per-message ChaCha20 + HMAC-SHA256 keys, power-of-two padding, base64 with version byte 2.
Follows https://github.com/paulmillr/nip44 (audited spec) and is tested against its vectors.

HKDF and HMAC come from the standard library. ChaCha20 (RFC 8439, counter 0) comes from
the ``cryptography`` package, imported on first use so the rest of the protocol package
works without it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass

from infernet.protocol.keys import InvalidKeyError, NodeKey

VERSION = 2
MIN_PLAINTEXT_SIZE = 1
MAX_PLAINTEXT_SIZE = 65535
_SALT = b"nip44-v2"
_MIN_PAYLOAD_CHARS, _MAX_PAYLOAD_CHARS = 132, 87472
_MIN_DATA_BYTES, _MAX_DATA_BYTES = 99, 65603


class Nip44Error(ValueError):
    """A NIP-44 payload or key cannot be used; the message names the failed check."""


@dataclass(frozen=True, slots=True)
class MessageKeys:
    """The three per-message keys HKDF-expand derives from a conversation key and nonce."""

    chacha_key: bytes
    chacha_nonce: bytes
    hmac_key: bytes


def _hkdf_extract(ikm: bytes, salt: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def _hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    output, block, counter = b"", b"", 1
    while len(output) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        output += block
        counter += 1
    return output[:length]


def _chacha20(key: bytes, nonce12: bytes, data: bytes) -> bytes:
    try:
        from cryptography.hazmat.primitives.ciphers import (  # type: ignore[import-not-found, unused-ignore]
            Cipher,
            algorithms,
        )
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "NIP-44 needs the 'cryptography' package: pip install cryptography"
        ) from exc
    # cryptography takes a 16-byte nonce: 32-bit little-endian block counter, then the
    # 96-bit RFC 8439 nonce. NIP-44 starts the counter at 0.
    full_nonce = (0).to_bytes(4, "little") + nonce12
    encryptor = Cipher(algorithms.ChaCha20(key, full_nonce), mode=None).encryptor()
    return bytes(encryptor.update(data)) + bytes(encryptor.finalize())


def get_conversation_key(private_key: NodeKey | str, public_key: str) -> bytes:
    """The 32-byte key shared by two parties: ``conv(a, B) == conv(b, A)``.

    ``private_key`` is a `NodeKey` or its hex; ``public_key`` is x-only hex or an npub.
    """
    try:
        key = NodeKey.from_hex(private_key) if isinstance(private_key, str) else private_key
        shared_x = key.ecdh_x(public_key)
    except InvalidKeyError as exc:
        raise Nip44Error(f"invalid key for NIP-44: {exc}") from exc
    return _hkdf_extract(shared_x, _SALT)


def get_message_keys(conversation_key: bytes, nonce: bytes) -> MessageKeys:
    """Per-message ChaCha20 key, ChaCha20 nonce and HMAC key (HKDF-expand, 76 bytes)."""
    if len(conversation_key) != 32:
        raise Nip44Error("invalid conversation_key length: must be 32 bytes")
    if len(nonce) != 32:
        raise Nip44Error("invalid nonce length: must be 32 bytes")
    keys = _hkdf_expand(conversation_key, nonce, 76)
    return MessageKeys(chacha_key=keys[:32], chacha_nonce=keys[32:44], hmac_key=keys[44:76])


def calc_padded_len(unpadded_len: int) -> int:
    """Padded size for a plaintext length: 32 bytes minimum, then power-of-two chunks."""
    if unpadded_len < 1:
        raise Nip44Error("plaintext length must be at least 1")
    if unpadded_len <= 32:
        return 32
    next_power = 1 << (unpadded_len - 1).bit_length()
    chunk = 32 if next_power <= 256 else next_power // 8
    return chunk * ((unpadded_len - 1) // chunk + 1)


def pad(plaintext: str) -> bytes:
    """``[u16 big-endian length][UTF-8 plaintext][zeros]`` to `calc_padded_len`."""
    unpadded = plaintext.encode("utf-8")
    size = len(unpadded)
    if not MIN_PLAINTEXT_SIZE <= size <= MAX_PLAINTEXT_SIZE:
        raise Nip44Error(
            f"invalid plaintext length {size}: "
            f"must be {MIN_PLAINTEXT_SIZE}..{MAX_PLAINTEXT_SIZE} bytes of UTF-8"
        )
    return size.to_bytes(2, "big") + unpadded + bytes(calc_padded_len(size) - size)


def unpad(padded: bytes) -> str:
    """Reverse of `pad`; raises `Nip44Error` if the length prefix or padding is wrong."""
    size = int.from_bytes(padded[:2], "big")
    unpadded = padded[2 : 2 + size]
    if size == 0 or len(unpadded) != size or len(padded) != 2 + calc_padded_len(size):
        raise Nip44Error("invalid padding")
    try:
        return unpadded.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Nip44Error("decrypted plaintext is not valid UTF-8") from exc


def _hmac_aad(key: bytes, message: bytes, aad: bytes) -> bytes:
    if len(aad) != 32:
        raise Nip44Error("AAD (nonce) must be 32 bytes")
    return hmac.new(key, aad + message, hashlib.sha256).digest()


def encrypt(plaintext: str, conversation_key: bytes, nonce: bytes | None = None) -> str:
    """Encrypt to a base64 payload. ``nonce`` defaults to 32 CSPRNG bytes; only tests pin it."""
    nonce = os.urandom(32) if nonce is None else nonce
    keys = get_message_keys(conversation_key, nonce)
    ciphertext = _chacha20(keys.chacha_key, keys.chacha_nonce, pad(plaintext))
    mac = _hmac_aad(keys.hmac_key, ciphertext, nonce)
    return base64.b64encode(bytes([VERSION]) + nonce + ciphertext + mac).decode("ascii")


def _decode_payload(payload: str) -> tuple[bytes, bytes, bytes]:
    if payload.startswith("#"):
        raise Nip44Error("unknown encryption version (non-base64 encoding)")
    if not _MIN_PAYLOAD_CHARS <= len(payload) <= _MAX_PAYLOAD_CHARS:
        raise Nip44Error(f"invalid payload size: {len(payload)} characters")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Nip44Error("invalid base64") from exc
    if not _MIN_DATA_BYTES <= len(data) <= _MAX_DATA_BYTES:
        raise Nip44Error(f"invalid data size: {len(data)} bytes")
    if data[0] != VERSION:
        raise Nip44Error(f"unknown encryption version {data[0]}")
    return data[1:33], data[33:-32], data[-32:]


def plaintext_bound(payload: str) -> int:
    """An upper bound of the plaintext's UTF-8 bytes, read from the payload's size alone
    (for those who must not decrypt it): base64 → version, nonce, padded text, MAC."""
    data_bytes = len(payload) * 3 // 4
    return max(0, data_bytes - 1 - 32 - 32 - 2)


def decrypt(payload: str, conversation_key: bytes) -> str:
    """Decrypt a base64 payload; the MAC is checked (constant time) before decrypting."""
    nonce, ciphertext, mac = _decode_payload(payload)
    keys = get_message_keys(conversation_key, nonce)
    if not hmac.compare_digest(_hmac_aad(keys.hmac_key, ciphertext, nonce), mac):
        raise Nip44Error("invalid MAC")
    return unpad(_chacha20(keys.chacha_key, keys.chacha_nonce, ciphertext))
