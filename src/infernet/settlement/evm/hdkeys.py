"""BIP-32 keys for deposit addresses: one platform seed, one address per account, and no
per-account secret anywhere.

Why per-account addresses, not one deposit contract with the account in the call:

* A client pays with a plain USDC transfer from any wallet or exchange (most exchanges
  cannot call a contract with extra data, and approve + deposit is two transactions);
  the dashboard shows an address and a QR code, nothing more.
* The control plane needs only the *extended public key* of the deposit branch
  (m/44'/60'/0'/0, BIP-44 for Ethereum): address i is derived from it without any
  private key (non-hardened derivation). The seed stays offline, so what clients deposit
  is in cold storage from the first block, and a compromised control plane cannot move
  it. The addresses are the ones an ordinary wallet shows for the same seed (MetaMask,
  Ledger: "account i"), so the operator sweeps deposits to the hot wallet or elsewhere
  with standard tools.
* No contract to write, audit and deploy on every chain; the same address works on Base,
  Ethereum, Polygon and Arbitrum.

The price: deposits land on many addresses, so sweeping them takes one transfer (and gas)
each, done offline by the operator when needed; the hot wallet holds only the payout float.

Checked against BIP-32 test vector 1 and against eth-account's own derivation
(tests/settlement/test_hdkeys.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field

from coincurve import PrivateKey, PublicKey
from Crypto.Hash import RIPEMD160
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from infernet.protocol.chains import b58decode
from infernet.settlement.errors import SettlementConfigError

HARDENED = 0x80000000
DEPOSIT_PATH = "m/44'/60'/0'/0"  # BIP-44, coin type 60 (Ethereum), account 0, external chain
_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_XPUB = bytes.fromhex("0488b21e")
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_PATH_RE = re.compile(r"m(/\d+'?)*")


def _hmac512(key: bytes, data: bytes) -> tuple[bytes, bytes]:
    digest = hmac.new(key, data, hashlib.sha512).digest()
    return digest[:32], digest[32:]


def _fingerprint(public_key: bytes) -> bytes:
    return RIPEMD160.new(hashlib.sha256(public_key).digest()).digest()[:4]


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]


def _b58check(payload: bytes) -> str:
    data = payload + _checksum(payload)
    number, text = int.from_bytes(data, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        text = _B58[digit] + text
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + text


def parse_path(path: str) -> list[int]:
    """ "m/44'/60'/0'/0" -> child indexes (hardened ones have the top bit set)."""
    if not _PATH_RE.fullmatch(path):
        raise SettlementConfigError(f"'{path}' is not a BIP-32 path like m/44'/60'/0'/0")
    steps = path.split("/")[1:]
    return [int(s.rstrip("'")) + (HARDENED if s.endswith("'") else 0) for s in steps]


@dataclass(frozen=True, slots=True)
class ExtendedPublicKey:
    key: bytes  # compressed secp256k1 point, 33 bytes
    chain_code: bytes
    depth: int = 0
    parent_fingerprint: bytes = b"\0\0\0\0"
    child_number: int = 0

    def child(self, index: int) -> ExtendedPublicKey:
        if not 0 <= index < HARDENED:
            raise ValueError("a public key derives only non-hardened children (0 <= i < 2^31)")
        tweak, chain_code = _hmac512(self.chain_code, self.key + index.to_bytes(4, "big"))
        if int.from_bytes(tweak, "big") >= _ORDER:  # probability ~2^-127: BIP-32 says skip
            raise ValueError(f"child {index} is invalid; use the next index")
        key = PublicKey(self.key).add(tweak).format(compressed=True)
        return ExtendedPublicKey(key, chain_code, self.depth + 1, _fingerprint(self.key), index)

    def address(self) -> str:
        """The EIP-55 Ethereum address of this key."""
        point = PublicKey(self.key).format(compressed=False)[1:]
        return to_checksum_address(keccak(point)[-20:])

    def serialize(self) -> str:
        return _b58check(
            _XPUB
            + bytes([self.depth])
            + self.parent_fingerprint
            + self.child_number.to_bytes(4, "big")
            + self.chain_code
            + self.key
        )

    @classmethod
    def parse(cls, text: str) -> ExtendedPublicKey:
        """An `xpub...` string; raises `SettlementConfigError` saying what is wrong."""
        try:
            data = b58decode(text.strip())
        except ValueError as exc:
            raise SettlementConfigError(f"deposit xpub: {exc}") from exc
        payload, check = data[:-4], data[-4:]
        if len(data) != 82 or _checksum(payload) != check:
            raise SettlementConfigError(
                "deposit xpub: not a valid extended public key (bad length or checksum); "
                "copy it again"
            )
        if payload[:4] != _XPUB:
            raise SettlementConfigError(
                "deposit xpub: expected an 'xpub...' (mainnet public) key; never configure "
                "a private 'xprv...' key on the control plane"
            )
        key = payload[45:78]
        try:
            PublicKey(key)
        except ValueError as exc:
            raise SettlementConfigError("deposit xpub: its key is not a curve point") from exc
        return cls(
            key, payload[13:45], payload[4], payload[5:9], int.from_bytes(payload[9:13], "big")
        )


@dataclass(frozen=True, slots=True)
class ExtendedPrivateKey:
    """Only for offline tools and tests: the control plane never holds one."""

    secret: bytes = field(repr=False)
    chain_code: bytes = field(repr=False)
    depth: int = 0
    parent_fingerprint: bytes = b"\0\0\0\0"
    child_number: int = 0

    @classmethod
    def from_seed(cls, seed: bytes) -> ExtendedPrivateKey:
        secret, chain_code = _hmac512(b"Bitcoin seed", seed)
        return cls(secret, chain_code)

    def public(self) -> ExtendedPublicKey:
        key = PrivateKey(self.secret).public_key.format(compressed=True)
        return ExtendedPublicKey(
            key, self.chain_code, self.depth, self.parent_fingerprint, self.child_number
        )

    def child(self, index: int) -> ExtendedPrivateKey:
        parent_key = self.public().key
        data = b"\0" + self.secret if index >= HARDENED else parent_key
        tweak, chain_code = _hmac512(self.chain_code, data + index.to_bytes(4, "big"))
        secret = (int.from_bytes(tweak, "big") + int.from_bytes(self.secret, "big")) % _ORDER
        return ExtendedPrivateKey(
            secret.to_bytes(32, "big"),
            chain_code,
            self.depth + 1,
            _fingerprint(parent_key),
            index,
        )

    def derive(self, path: str) -> ExtendedPrivateKey:
        key = self
        for index in parse_path(path):
            key = key.child(index)
        return key


def deposit_xpub_from_seed(seed: bytes) -> str:
    """The xpub to configure on the control plane, for a seed kept offline."""
    return ExtendedPrivateKey.from_seed(seed).derive(DEPOSIT_PATH).public().serialize()


class DepositAddresses:
    """Address i of the deposit branch, derived from its xpub (cached: derivation is an
    EC point addition, cheap but not free for many accounts)."""

    def __init__(self, xpub: str) -> None:
        self._branch = ExtendedPublicKey.parse(xpub)
        self._cache: dict[int, str] = {}

    def address(self, index: int) -> str:
        found = self._cache.get(index)
        if found is None:
            found = self._cache[index] = self._branch.child(index).address()
        return found
