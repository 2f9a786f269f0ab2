"""secp256k1 identities: the node key, its on-disk file, and BIP-340 Schnorr signatures.

Owns everything about a key as a value: generating it, its hex / NIP-19 (``npub1…`` /
``nsec1…``) spellings, signing 32-byte digests with BIP-340 Schnorr, verifying such
signatures, and storing the private key in a file only its owner can read (Book §6.1, §6.7).
The same type serves the user, node and model keys of the hierarchy (Book §6.5) and the
platform's countersigning key; what a key is *for* is the caller's business.

Public keys are always BIP-340 x-only: 32 bytes, written as 64 lower-case hex characters
(the Nostr convention, and what ``npub`` encodes). The key file holds the private key as
64 hex characters and a newline, mode 0600.
"""

from __future__ import annotations

import os
import stat
import tempfile
from functools import lru_cache
from pathlib import Path

from coincurve import PrivateKey, PublicKey, PublicKeyXOnly

from infernet.protocol import bech32

NPUB_PREFIX = "npub"
NSEC_PREFIX = "nsec"
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class InvalidKeyError(ValueError):
    """Key material (hex, npub/nsec, or a key file's contents) is malformed or off-curve."""


class KeyFileError(Exception):
    """A key file is missing, unreadable, or unsafe to use."""


class InsecureKeyFileError(KeyFileError):
    """A private key file can be read or written by users other than its owner."""


def _parse_hex32(text: str, what: str) -> bytes:
    if len(text) != 64 or not set(text) <= _HEX_DIGITS:
        raise InvalidKeyError(f"{what} must be 64 hex characters, got {len(text)} characters")
    return bytes.fromhex(text)


@lru_cache(maxsize=4096)  # every signed statement a node sends names the same few keys
def parse_public_key(text: str) -> str:
    """Return the canonical 64-char lower-case x-only hex of a public key given as hex or npub.

    Raises `InvalidKeyError` if the text is neither, or is not a point on the curve.
    """
    text = text.strip()
    try:
        raw = (
            bech32.decode_key(NPUB_PREFIX, text)
            if text.lower().startswith(NPUB_PREFIX + "1")
            else _parse_hex32(text, "public key")
        )
    except bech32.Bech32Error as exc:
        raise InvalidKeyError(f"invalid npub: {exc}") from exc
    try:
        PublicKeyXOnly(raw)
    except ValueError as exc:
        raise InvalidKeyError("public key is not a valid secp256k1 x coordinate") from exc
    return raw.hex()


def npub_from_public_hex(public_hex: str) -> str:
    """The NIP-19 ``npub1…`` spelling of a public key given as hex (or already as npub)."""
    return bech32.encode(NPUB_PREFIX, bytes.fromhex(parse_public_key(public_hex)))


def verify_schnorr(public_hex: str, msg32: bytes, sig64: bytes) -> bool:
    """Check a BIP-340 Schnorr signature. Malformed keys or signatures verify as False.

    ``msg32`` is normally a 32-byte digest; BIP-340 also defines other lengths, which are
    accepted here so the official vectors can be checked in full.
    """
    if len(sig64) != 64:
        return False
    try:
        public = PublicKeyXOnly(bytes.fromhex(parse_public_key(public_hex)))
    except InvalidKeyError:
        return False
    return bool(public.verify(sig64, msg32))


class PublicKeyCache:
    """Parsed x-only public keys by their spelling (hex or npub), at most ``max_entries``.

    Parsing a key (``secp256k1_xonly_pubkey_parse``) costs about as much as half a
    signature check, and the same nodes sign a request every few seconds, so a verifier
    keeps the parsed points. Least recently used keys are dropped first; a malformed key
    is never stored (it raises `InvalidKeyError` every time).
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._keys: dict[str, tuple[str, PublicKeyXOnly]] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def parse(self, text: str) -> tuple[str, PublicKeyXOnly]:
        """The canonical hex and the parsed point of ``text``; `InvalidKeyError` if bad."""
        found = self._keys.pop(text, None)
        if found is None:
            public_hex = parse_public_key(text)
            found = (public_hex, PublicKeyXOnly(bytes.fromhex(public_hex)))
            if len(self._keys) >= self._max_entries:
                del self._keys[next(iter(self._keys))]  # the least recently used
        self._keys[text] = found  # re-inserted: now the most recently used
        return found


class NodeKey:
    """A secp256k1 private key with its derived x-only public key.

    Never printed: ``repr`` shows only the npub, and ``private_hex`` / ``nsec`` must be asked
    for by name.
    """

    __slots__ = ("_private",)

    def __init__(self, private: PrivateKey) -> None:
        self._private = private

    @classmethod
    def generate(cls) -> NodeKey:
        """A fresh key from the operating system's CSPRNG."""
        return cls(PrivateKey())

    @classmethod
    def from_hex(cls, private_hex: str) -> NodeKey:
        """Load a private key from 64 hex characters (a scalar in ``[1, n-1]``)."""
        return cls._from_secret(_parse_hex32(private_hex.strip(), "private key"))

    @classmethod
    def from_nsec(cls, nsec: str) -> NodeKey:
        """Load a private key from its NIP-19 ``nsec1…`` spelling."""
        try:
            return cls._from_secret(bech32.decode_key(NSEC_PREFIX, nsec.strip()))
        except bech32.Bech32Error as exc:
            raise InvalidKeyError(f"invalid nsec: {exc}") from exc

    @classmethod
    def parse(cls, text: str) -> NodeKey:
        """Load a private key given as hex or as ``nsec1…``."""
        text = text.strip()
        if text.lower().startswith(NSEC_PREFIX + "1"):
            return cls.from_nsec(text)
        return cls.from_hex(text)

    @classmethod
    def _from_secret(cls, secret: bytes) -> NodeKey:
        try:
            return cls(PrivateKey(secret))
        except ValueError as exc:
            raise InvalidKeyError("private key is zero or not below the curve order") from exc

    @property
    def private_hex(self) -> str:
        return bytes(self._private.secret).hex()

    @property
    def public_bytes(self) -> bytes:
        """The 32-byte BIP-340 x-only public key."""
        return bytes(self._private.public_key_xonly.format())

    @property
    def public_hex(self) -> str:
        return self.public_bytes.hex()

    @property
    def npub(self) -> str:
        return bech32.encode(NPUB_PREFIX, self.public_bytes)

    @property
    def nsec(self) -> str:
        return bech32.encode(NSEC_PREFIX, bytes(self._private.secret))

    def sign(self, msg32: bytes, *, aux_rand: bytes | None = None) -> bytes:
        """BIP-340 Schnorr signature (64 bytes) over a 32-byte digest.

        ``aux_rand`` is the BIP's auxiliary randomness; fresh CSPRNG bytes unless given
        (only tests pass it, to reproduce the official vectors).
        """
        if len(msg32) != 32:
            raise ValueError(f"sign() takes a 32-byte digest, got {len(msg32)} bytes")
        aux = os.urandom(32) if aux_rand is None else aux_rand
        if len(aux) != 32:
            raise ValueError("aux_rand must be 32 bytes")
        return bytes(self._private.sign_schnorr(msg32, aux))

    def ecdh_x(self, public_hex: str) -> bytes:
        """Unhashed x coordinate of ``self × P`` for an x-only public key P (even y, per BIP-340).

        This is the shared secret NIP-44 feeds into HKDF.
        """
        point = PublicKey(b"\x02" + bytes.fromhex(parse_public_key(public_hex)))
        shared = point.multiply(bytes(self._private.secret))
        return bytes(shared.format(compressed=True))[1:]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the private key to ``path`` with mode 0600, atomically.

        Parent directories are created (mode 0700). The key is written to a temporary file
        that is 0600 from birth (``mkstemp``), flushed to disk, then renamed over ``path``,
        so the key is never world-readable and a crash never leaves a half-written key.
        """
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".key", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(self.private_hex + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NodeKey:
        """Read a key file written by `save` (hex, or an ``nsec1…`` line).

        Refuses a file that group or others may access, with the ``chmod`` that fixes it.
        """
        target = Path(path).expanduser()
        try:
            info = target.stat()
            text = target.read_text(encoding="ascii")
        except FileNotFoundError as exc:
            raise KeyFileError(f"no key file at {target}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"cannot read key file {target}: {exc}") from exc
        _check_private_mode(target, info.st_mode)
        try:
            return cls.parse(text)
        except InvalidKeyError as exc:
            raise KeyFileError(f"key file {target} does not hold a valid key: {exc}") from exc

    def __repr__(self) -> str:
        return f"NodeKey(npub={self.npub!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NodeKey):
            return NotImplemented
        return self.public_bytes == other.public_bytes

    def __hash__(self) -> int:
        return hash(self.public_bytes)


def _check_private_mode(path: Path, mode: int) -> None:
    if os.name == "nt":  # POSIX permission bits do not describe Windows ACLs.
        return
    loose = stat.S_IMODE(mode) & 0o077
    if loose:
        raise InsecureKeyFileError(
            f"key file {path} is accessible to other users "
            f"(mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}` and try again"
        )
