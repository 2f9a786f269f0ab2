"""Node keys: BIP-340 Schnorr against the official vectors, NIP-19 spellings, the key file."""

from __future__ import annotations

import csv
import hashlib
import os
import stat
from pathlib import Path

import pytest

from infernet.protocol.keys import (
    InsecureKeyFileError,
    InvalidKeyError,
    KeyFileError,
    NodeKey,
    PublicKeyCache,
    npub_from_public_hex,
    parse_public_key,
    verify_schnorr,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "crypto"
BIP340_CSV = FIXTURES / "bip340-test-vectors.csv"
BIP340_SHA256 = "34c9d1d9c3a88d524bc80778540dc43f8306ec249a7485293063c376db851c2d"

# NIP-19's own example key.
NIP19_SECRET = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa"
NIP19_NSEC = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5"
NIP19_PUBLIC = "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e"
NIP19_NPUB = "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg"


def _bip340_rows() -> list[dict[str, str]]:
    with BIP340_CSV.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


BIP340_ROWS = _bip340_rows()


# --- An independent BIP-340 verifier, written from the BIP's specification ----------------
# Plain integer arithmetic, no libsecp256k1: a second opinion on signatures we produce.

_P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)
Point = tuple[int, int] | None


def _add(a: Point, b: Point) -> Point:
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and a[1] != b[1]:
        return None
    if a == b:
        lam = 3 * a[0] * a[0] * pow(2 * a[1], _P - 2, _P) % _P
    else:
        lam = (b[1] - a[1]) * pow(b[0] - a[0], _P - 2, _P) % _P
    x = (lam * lam - a[0] - b[0]) % _P
    return x, (lam * (a[0] - x) - a[1]) % _P


def _mul(point: Point, scalar: int) -> Point:
    result: Point = None
    for i in range(256):
        if (scalar >> i) & 1:
            result = _add(result, point)
        point = _add(point, point)
    return result


def _tagged_hash(tag: str, data: bytes) -> bytes:
    tag_hash = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(tag_hash + tag_hash + data).digest()


def _lift_x(x: int) -> Point:
    if x >= _P:
        return None
    y_sq = (pow(x, 3, _P) + 7) % _P
    y = pow(y_sq, (_P + 1) // 4, _P)
    if pow(y, 2, _P) != y_sq:
        return None
    return x, y if y % 2 == 0 else _P - y


def reference_verify(public: bytes, msg: bytes, sig: bytes) -> bool:
    point = _lift_x(int.from_bytes(public, "big"))
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if point is None or r >= _P or s >= _N:
        return False
    e = int.from_bytes(_tagged_hash("BIP0340/challenge", sig[:32] + public + msg), "big") % _N
    big_r = _add(_mul(_G, s), _mul(point, _N - e))
    return big_r is not None and big_r[1] % 2 == 0 and big_r[0] == r


# --- The official vectors ----------------------------------------------------------------


def test_vector_file_is_the_official_one() -> None:
    assert hashlib.sha256(BIP340_CSV.read_bytes()).hexdigest() == BIP340_SHA256
    assert len(BIP340_ROWS) == 19


@pytest.mark.parametrize(
    "row",
    # We sign only 32-byte digests; vectors 15-18 (other message lengths) are verified below.
    [r for r in BIP340_ROWS if r["secret key"] and len(r["message"]) == 64],
    ids=lambda r: f"vector-{r['index']}",
)
def test_signing_reproduces_bip340_vectors(row: dict[str, str]) -> None:
    key = NodeKey.from_hex(row["secret key"])
    msg = bytes.fromhex(row["message"])
    assert key.public_hex == row["public key"].lower()
    signature = key.sign(msg, aux_rand=bytes.fromhex(row["aux_rand"]))
    assert signature.hex() == row["signature"].lower()


@pytest.mark.parametrize("row", BIP340_ROWS, ids=lambda r: f"vector-{r['index']}")
def test_verification_matches_bip340_vectors(row: dict[str, str]) -> None:
    expected = row["verification result"] == "TRUE"
    msg = bytes.fromhex(row["message"])
    sig = bytes.fromhex(row["signature"])
    assert verify_schnorr(row["public key"], msg, sig) is expected
    assert reference_verify(bytes.fromhex(row["public key"]), msg, sig) is expected


def test_our_signatures_pass_an_independent_verifier() -> None:
    for _ in range(5):
        key = NodeKey.generate()
        digest = hashlib.sha256(os.urandom(40)).digest()
        signature = key.sign(digest)
        assert len(signature) == 64
        assert verify_schnorr(key.public_hex, digest, signature)
        assert reference_verify(key.public_bytes, digest, signature)


def test_signatures_use_fresh_aux_randomness() -> None:
    key = NodeKey.generate()
    digest = bytes(32)
    assert key.sign(digest) != key.sign(digest)


def test_sign_takes_only_a_32_byte_digest() -> None:
    with pytest.raises(ValueError, match="32-byte digest"):
        NodeKey.generate().sign(b"not a digest")


def test_verify_rejects_wrong_key_message_and_malformed_input() -> None:
    key, other = NodeKey.generate(), NodeKey.generate()
    digest = hashlib.sha256(b"hello").digest()
    sig = key.sign(digest)
    assert not verify_schnorr(other.public_hex, digest, sig)
    assert not verify_schnorr(key.public_hex, hashlib.sha256(b"hellO").digest(), sig)
    assert not verify_schnorr(key.public_hex, digest, sig[:63])
    assert not verify_schnorr("zz" * 32, digest, sig)


# --- Spellings ---------------------------------------------------------------------------


def test_nip19_example_round_trips() -> None:
    key = NodeKey.from_hex(NIP19_SECRET)
    assert key.public_hex == NIP19_PUBLIC
    assert key.npub == NIP19_NPUB
    assert key.nsec == NIP19_NSEC
    assert NodeKey.from_nsec(NIP19_NSEC) == key
    assert NodeKey.parse(NIP19_NSEC).private_hex == NIP19_SECRET
    assert npub_from_public_hex(NIP19_PUBLIC) == NIP19_NPUB


def test_public_key_parses_from_npub_or_hex() -> None:
    assert parse_public_key(NIP19_NPUB) == NIP19_PUBLIC
    assert parse_public_key(NIP19_PUBLIC.upper()) == NIP19_PUBLIC
    assert parse_public_key(f"  {NIP19_PUBLIC}\n") == NIP19_PUBLIC


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("abc", "64 hex"),
        ("g" * 64, "64 hex"),
        ("ff" * 32, "x coordinate"),
        (NIP19_NPUB[:-1] + "q", "checksum"),
        (NIP19_NSEC, "64 hex"),
    ],
)
def test_bad_public_keys_are_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(InvalidKeyError, match=problem):
        parse_public_key(text)


@pytest.mark.parametrize(
    "secret",
    ["00" * 32, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", "12", "x" * 64],
)
def test_invalid_private_keys_are_refused(secret: str) -> None:
    with pytest.raises(InvalidKeyError):
        NodeKey.from_hex(secret)


def test_nsec_with_the_wrong_prefix_is_refused() -> None:
    with pytest.raises(InvalidKeyError, match="nsec"):
        NodeKey.from_nsec(NIP19_NPUB)


def test_repr_never_shows_the_private_key() -> None:
    key = NodeKey.from_hex(NIP19_SECRET)
    assert NIP19_SECRET not in repr(key)
    assert NIP19_NSEC not in repr(key)
    assert NIP19_NPUB in repr(key)


# --- The key file ------------------------------------------------------------------------


def test_save_creates_parents_and_writes_an_owner_only_file(tmp_path: Path) -> None:
    key = NodeKey.generate()
    target = tmp_path / "home" / ".infernet" / "keys" / "node.key"
    assert key.save(target) == target
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == key.private_hex + "\n"
    assert NodeKey.load(target) == key
    assert sorted(p.name for p in target.parent.iterdir()) == ["node.key"]


def test_save_is_owner_only_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        target = NodeKey.generate().save(tmp_path / "node.key")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_save_replaces_an_existing_key_atomically(tmp_path: Path) -> None:
    target = tmp_path / "node.key"
    NodeKey.generate().save(target)
    newer = NodeKey.generate()
    newer.save(target)
    assert NodeKey.load(target) == newer
    assert [p.name for p in tmp_path.iterdir()] == ["node.key"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_load_refuses_a_file_other_users_can_access(tmp_path: Path, mode: int) -> None:
    target = NodeKey.generate().save(tmp_path / "node.key")
    target.chmod(mode)
    with pytest.raises(InsecureKeyFileError, match=r"chmod 600"):
        NodeKey.load(target)


def test_load_accepts_an_nsec_line(tmp_path: Path) -> None:
    target = tmp_path / "node.key"
    target.write_text(NIP19_NSEC + "\n")
    target.chmod(0o600)
    assert NodeKey.load(target).public_hex == NIP19_PUBLIC


def test_load_explains_a_missing_or_garbled_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no key file"):
        NodeKey.load(tmp_path / "absent.key")
    garbled = tmp_path / "garbled.key"
    garbled.write_text("hello\n")
    garbled.chmod(0o600)
    with pytest.raises(KeyFileError, match="does not hold a valid key"):
        NodeKey.load(garbled)


def test_the_key_cache_parses_hex_or_npub_to_the_same_canonical_key() -> None:
    cache = PublicKeyCache(max_entries=4)
    key = NodeKey.generate()
    for spelling in (key.public_hex, key.npub, key.public_hex.upper()):
        public_hex, point = cache.parse(spelling)
        assert public_hex == key.public_hex
        assert bytes(point.format()) == key.public_bytes


def test_the_key_cache_is_bounded_and_drops_the_least_recently_used() -> None:
    cache = PublicKeyCache(max_entries=2)
    first, second, third = (NodeKey.generate().public_hex for _ in range(3))
    cache.parse(first)
    cache.parse(second)
    cache.parse(first)  # used again: `second` is now the oldest
    cache.parse(third)
    assert len(cache) == 2
    assert set(cache._keys) == {first, third}


def test_the_key_cache_never_stores_a_malformed_key() -> None:
    cache = PublicKeyCache()
    for _ in range(2):
        with pytest.raises(InvalidKeyError):
            cache.parse("ab" * 31)
    assert len(cache) == 0
