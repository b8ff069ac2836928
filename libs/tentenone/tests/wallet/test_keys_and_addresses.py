from __future__ import annotations

import pytest

from tentenone.chain.network import Network
from tentenone.wallet import (
    AddressKind,
    InvalidAddress,
    InvalidMnemonic,
    WalletAccount,
    WrongNetwork,
    address_to_script,
    generate_mnemonic,
    normalize_mnemonic,
    script_to_address,
    seed_from_mnemonic,
)

ABANDON = "abandon " * 11 + "about"


def test_bip39_vector_seed() -> None:
    # BIP-39 reference vector (passphrase "TREZOR").
    seed = seed_from_mnemonic(ABANDON, "TREZOR")
    assert seed.hex().startswith("c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e5349553")


@pytest.mark.parametrize(
    ("kind", "receive0", "change0"),
    [
        # BIP-84 and BIP-86 test vectors for the "abandon ... about" mnemonic.
        (
            AddressKind.P2WPKH,
            "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
            "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el",
        ),
        (
            AddressKind.P2TR,
            "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
            "bc1p3qkhfews2uk44qtvauqyr2ttdsw7svhkl9nkm9s9c3x4ax5h60wqwruhk7",
        ),
    ],
)
def test_bip84_bip86_vectors(kind: AddressKind, receive0: str, change0: str) -> None:
    account = WalletAccount.from_mnemonic(ABANDON, Network.MAINNET, kind)
    assert script_to_address(account.derive(0, 0).script, Network.MAINNET) == receive0
    assert script_to_address(account.derive(1, 0).script, Network.MAINNET) == change0
    assert account.descriptor().split("#")[0].endswith("/<0;1>/*)")


def test_watch_only_derives_the_same_scripts_and_cannot_sign() -> None:
    full = WalletAccount.from_mnemonic(ABANDON, Network.REGTEST, AddressKind.P2TR)
    xpub = full.descriptor(0).split("]")[1].split("/")[0]
    watch = WalletAccount.watch_only(AddressKind.P2TR, Network.REGTEST, 0, full.fingerprint, xpub)
    assert watch.derive(0, 7).script == full.derive(0, 7).script
    assert watch.descriptor() == full.descriptor()
    assert not watch.can_sign


def test_repr_shows_no_key_material() -> None:
    account = WalletAccount.from_mnemonic(ABANDON, Network.REGTEST)
    text = repr(account) + str(account)
    assert "prv" not in text and "pub" not in text and "abandon" not in text


def test_generated_mnemonics_are_valid_and_distinct() -> None:
    words = generate_mnemonic(24)
    assert len(words.split()) == 24 and normalize_mnemonic(words) == words
    assert generate_mnemonic() != generate_mnemonic()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("abandon " * 11, "got 11"),
        ("abandon " * 10 + "zzzz about", "position 11"),
        ("abandon " * 12, "checksum"),
        ("", "got 0"),
    ],
)
def test_invalid_mnemonics_say_why_without_echoing_words(text: str, match: str) -> None:
    with pytest.raises(InvalidMnemonic, match=match) as info:
        normalize_mnemonic(text)
    assert "zzzz" not in info.value.message
    assert info.value.code == "wallet_invalid_mnemonic"


def test_mnemonic_normalisation() -> None:
    assert normalize_mnemonic("  ABANDON " * 11 + "About\n") == ABANDON.strip()


def test_addresses_check_network() -> None:
    mainnet = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    assert address_to_script(mainnet, Network.MAINNET).hex().startswith("0014")
    with pytest.raises(WrongNetwork, match="main address"):
        address_to_script(mainnet, Network.REGTEST)
    with pytest.raises(WrongNetwork):
        address_to_script("1BoatSLRHtKNngkdXEeobR76b53LETtpyT", Network.REGTEST)
    for bad in ["", "bc1qnotanaddress", "x" * 200]:
        with pytest.raises(InvalidAddress):
            address_to_script(bad, Network.MAINNET)
    regtest = script_to_address(
        WalletAccount.from_mnemonic(ABANDON, Network.REGTEST).derive(0, 0).script, Network.REGTEST
    )
    assert regtest.startswith("bcrt1q")
    assert address_to_script(regtest, Network.REGTEST)
