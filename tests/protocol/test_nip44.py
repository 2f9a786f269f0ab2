"""NIP-44 v2 against the official vectors (paulmillr/nip44, checksum as published)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from infernet.protocol.keys import NodeKey
from infernet.protocol.nip44 import (
    Nip44Error,
    calc_padded_len,
    decrypt,
    encrypt,
    get_conversation_key,
    get_message_keys,
    pad,
)

VECTORS_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "crypto" / "nip44.vectors.json"
VECTORS_SHA256 = "269ed0f69e4c192512cc779e78c555090cebc7c785b609e338a62afc3ce25040"
V2: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))["v2"]
VALID, INVALID = V2["valid"], V2["invalid"]

# ChaCha20 comes from `cryptography`; everything else here runs without it.
chacha = pytest.mark.skipif(
    importlib.util.find_spec("cryptography") is None, reason="needs the 'cryptography' package"
)


def _note(vector: dict[str, Any]) -> str:
    return str(vector.get("note", ""))[:40]


def test_vector_file_matches_the_published_checksum() -> None:
    assert hashlib.sha256(VECTORS_PATH.read_bytes()).hexdigest() == VECTORS_SHA256


@pytest.mark.parametrize("vector", VALID["get_conversation_key"], ids=_note)
def test_get_conversation_key(vector: dict[str, str]) -> None:
    key = get_conversation_key(vector["sec1"], vector["pub2"])
    assert key.hex() == vector["conversation_key"]


@pytest.mark.parametrize("vector", INVALID["get_conversation_key"], ids=_note)
def test_invalid_keys_have_no_conversation_key(vector: dict[str, str]) -> None:
    with pytest.raises(Nip44Error, match="invalid key"):
        get_conversation_key(vector["sec1"], vector["pub2"])


def test_conversation_key_is_symmetric() -> None:
    alice, bob = NodeKey.generate(), NodeKey.generate()
    assert get_conversation_key(alice, bob.npub) == get_conversation_key(bob, alice.public_hex)


@pytest.mark.parametrize("vector", VALID["get_message_keys"]["keys"], ids=lambda v: v["nonce"][:8])
def test_get_message_keys(vector: dict[str, str]) -> None:
    conversation_key = bytes.fromhex(VALID["get_message_keys"]["conversation_key"])
    keys = get_message_keys(conversation_key, bytes.fromhex(vector["nonce"]))
    assert keys.chacha_key.hex() == vector["chacha_key"]
    assert keys.chacha_nonce.hex() == vector["chacha_nonce"]
    assert keys.hmac_key.hex() == vector["hmac_key"]


@pytest.mark.parametrize(("unpadded", "padded"), VALID["calc_padded_len"])
def test_calc_padded_len(unpadded: int, padded: int) -> None:
    assert calc_padded_len(unpadded) == padded


@pytest.mark.parametrize("length", INVALID["encrypt_msg_lengths"])
def test_plaintext_length_limits(length: int) -> None:
    with pytest.raises(Nip44Error, match="invalid plaintext length"):
        pad("a" * length)


@chacha
@pytest.mark.parametrize("vector", VALID["encrypt_decrypt"], ids=lambda v: v["payload"][:12])
def test_encrypt_decrypt(vector: dict[str, str]) -> None:
    conversation_key = get_conversation_key(
        vector["sec1"], NodeKey.from_hex(vector["sec2"]).public_hex
    )
    assert conversation_key.hex() == vector["conversation_key"]
    payload = encrypt(vector["plaintext"], conversation_key, bytes.fromhex(vector["nonce"]))
    assert payload == vector["payload"]
    assert decrypt(payload, conversation_key) == vector["plaintext"]


@chacha
@pytest.mark.parametrize("vector", VALID["encrypt_decrypt_long_msg"], ids=lambda v: v["pattern"])
def test_encrypt_decrypt_long_messages(vector: dict[str, Any]) -> None:
    plaintext = vector["pattern"] * vector["repeat"]
    assert hashlib.sha256(plaintext.encode()).hexdigest() == vector["plaintext_sha256"]
    conversation_key = bytes.fromhex(vector["conversation_key"])
    payload = encrypt(plaintext, conversation_key, bytes.fromhex(vector["nonce"]))
    assert hashlib.sha256(payload.encode()).hexdigest() == vector["payload_sha256"]
    assert decrypt(payload, conversation_key) == plaintext


# The vectors' notes, and the start of the error we raise for each.
DECRYPT_REASONS = [
    ("unknown encryption version", "unknown encryption version"),
    ("invalid base64", "invalid base64"),
    ("invalid MAC", "invalid MAC"),
    ("invalid padding", "invalid padding"),
    ("invalid payload length", "invalid payload size"),
]


@chacha
@pytest.mark.parametrize("vector", INVALID["decrypt"], ids=_note)
def test_invalid_payloads_are_refused(vector: dict[str, str]) -> None:
    reason = next(ours for theirs, ours in DECRYPT_REASONS if vector["note"].startswith(theirs))
    with pytest.raises(Nip44Error, match=reason):
        decrypt(vector["payload"], bytes.fromhex(vector["conversation_key"]))


@chacha
def test_round_trip_with_fresh_nonces() -> None:
    client, model = NodeKey.generate(), NodeKey.generate()
    to_model = get_conversation_key(client, model.public_hex)
    first, second = encrypt("prompt: hello", to_model), encrypt("prompt: hello", to_model)
    assert first != second
    assert decrypt(first, get_conversation_key(model, client.public_hex)) == "prompt: hello"


@chacha
def test_a_flipped_ciphertext_bit_fails_the_mac() -> None:
    conversation_key = bytes(range(32))
    payload = bytearray(encrypt("secret prompt", conversation_key).encode())
    payload[60] = ord("A") if payload[60] != ord("A") else ord("B")
    with pytest.raises(Nip44Error, match="invalid MAC"):
        decrypt(payload.decode(), conversation_key)
