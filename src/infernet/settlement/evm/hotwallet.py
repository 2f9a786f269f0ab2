"""The hot wallet: the key that signs payouts, loaded from a 0600 file or an environment
variable, and never logged, printed or stored in the database.

Keep its float small: it needs only the USDC of the payouts about to be paid and some of
the chain's native coin for gas. Deposits never land on it (they go to addresses derived
from an offline seed, hdkeys.py); the operator tops it up from cold storage.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account

from infernet.settlement.errors import KeyFileError

KEY_ENV = "INFERNET_HOT_WALLET_KEY"
_HEX_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True)
class SignedTx:
    raw: str  # 0x-hex
    tx_hash: str  # 0x-hex


class HotWallet:
    """Signs transactions; its repr shows the address only."""

    __slots__ = ("_account", "address")

    def __init__(self, key: bytes) -> None:
        try:
            self._account = Account.from_key(key)
        except ValueError:  # zero or above the curve order; no chaining: keep the key out
            raise KeyFileError("The hot-wallet key is not a valid secp256k1 key.") from None
        self.address: str = self._account.address

    def __repr__(self) -> str:
        return f"HotWallet({self.address})"

    def sign(self, transaction: dict[str, Any]) -> SignedTx:
        signed = self._account.sign_transaction(transaction)
        return SignedTx("0x" + signed.raw_transaction.hex(), "0x" + signed.hash.hex())

    @classmethod
    def load(cls, key_file: str | None, environ: Mapping[str, str] = os.environ) -> HotWallet:
        """From `key_file` (0x + 64 hex digits, mode 0600 or stricter), else from the
        INFERNET_HOT_WALLET_KEY environment variable."""
        if key_file is not None:
            return cls(_parse(_read_private_file(Path(key_file)), f"the key file {key_file}"))
        text = environ.get(KEY_ENV)
        if text is None:
            raise KeyFileError(
                f"No hot-wallet key: pass --hot-wallet-key-file PATH (a file of mode 0600 "
                f"holding the 64-hex-digit key) or set {KEY_ENV}."
            )
        return cls(_parse(text, KEY_ENV))


def _read_private_file(path: Path) -> str:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"{path} is readable by other users (mode {mode:04o}); "
                f"run `chmod 600 {path}` and start again."
            )
        return path.read_text()
    except FileNotFoundError as exc:
        raise KeyFileError(f"The hot-wallet key file {path} does not exist.") from exc
    except OSError as exc:
        raise KeyFileError(f"Cannot read the hot-wallet key file {path}: {exc.strerror}.") from exc


def _parse(text: str, where: str) -> bytes:
    body = text.strip()
    if not _HEX_KEY.fullmatch(body):  # the message never repeats the text: it may be a key
        raise KeyFileError(
            f"{where} does not hold a private key: expected 64 hex digits (optionally 0x-prefixed)."
        )
    return bytes.fromhex(body.removeprefix("0x"))
