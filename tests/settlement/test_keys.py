"""Keys: deposit addresses from an xpub (BIP-32), the hot wallet from a 0600 file or the
environment, and the key never shown."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.hdaccount import key_from_seed

from infernet.settlement.errors import KeyFileError, SettlementConfigError
from infernet.settlement.evm.hdkeys import (
    HARDENED,
    DepositAddresses,
    ExtendedPrivateKey,
    ExtendedPublicKey,
    deposit_xpub_from_seed,
)
from infernet.settlement.evm.hotwallet import KEY_ENV, HotWallet

VECTOR_1 = bytes.fromhex("000102030405060708090a0b0c0d0e0f")  # BIP-32 test vector 1
KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def test_bip32_test_vector_1() -> None:
    master = ExtendedPrivateKey.from_seed(VECTOR_1)
    assert master.public().serialize() == (
        "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8Yt"
        "GqsefD265TMg7usUDFdp6W1EGMcet8"
    )
    hardened = master.child(HARDENED).public()
    assert hardened.serialize() == (
        "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdr"
        "fp1bgwQ9xv5ski8PX9rL2dZXvgGDnw"
    )
    # public derivation of a non-hardened child equals private derivation
    assert hardened.child(1) == master.derive("m/0'/1").public()
    assert ExtendedPublicKey.parse(hardened.serialize()) == hardened


def test_deposit_addresses_match_what_a_wallet_derives_from_the_seed() -> None:
    seed = bytes(range(64))
    addresses = DepositAddresses(deposit_xpub_from_seed(seed))
    for index in (0, 1, 7, 1000):
        wallet_key = key_from_seed(seed, f"m/44'/60'/0'/0/{index}")
        assert addresses.address(index) == Account.from_key(wallet_key).address


def test_a_bad_or_private_xpub_is_refused_with_a_reason() -> None:
    xpub = deposit_xpub_from_seed(bytes(32))
    with pytest.raises(SettlementConfigError, match="checksum"):
        DepositAddresses(xpub[:-1] + ("1" if xpub[-1] != "1" else "2"))
    with pytest.raises(SettlementConfigError, match="never configure a private"):
        DepositAddresses(
            "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"
        )


def test_the_hot_wallet_key_loads_from_a_0600_file(tmp_path: Path) -> None:
    path = tmp_path / "hot.key"
    path.write_text("0x" + KEY + "\n")
    path.chmod(0o600)
    wallet = HotWallet.load(str(path), environ={})
    assert wallet.address == Account.from_key(bytes.fromhex(KEY)).address
    assert repr(wallet) == f"HotWallet({wallet.address})"


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hot.key"
    path.write_text(KEY)
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match=r"mode 0644.*chmod 600"):
        HotWallet.load(str(path), environ={})


def test_the_key_comes_from_the_environment_when_no_file_is_given() -> None:
    assert HotWallet.load(None, {KEY_ENV: KEY}).address.startswith("0x")
    with pytest.raises(KeyFileError, match="No hot-wallet key"):
        HotWallet.load(None, {})


def test_the_key_is_never_in_an_error_or_a_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    almost = KEY[:-1] + "z"  # one bad character: the message must not repeat the text
    for text in (almost, KEY[:20]):
        path = tmp_path / "bad.key"
        path.write_text(text)
        os.chmod(path, 0o600)
        with pytest.raises(KeyFileError) as raised:
            HotWallet.load(str(path), environ={})
        assert text not in str(raised.value)
    wallet = HotWallet.load(None, {KEY_ENV: KEY})
    logging.getLogger("test").info("wallet %s %r", wallet, wallet)
    assert KEY not in caplog.text and KEY not in repr(wallet) and KEY not in str(wallet)
