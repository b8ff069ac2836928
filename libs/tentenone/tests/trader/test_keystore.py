"""The key store: words sealed under a passphrase; wrong passphrase and damaged files refused."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from tentenone.chain.network import Network
from tentenone.oracle import schnorr
from tentenone.trader.errors import (
    KeyStoreCorrupt,
    KeyStoreExists,
    KeyStoreMissing,
    TraderInputError,
    WrongPassphrase,
)
from tentenone.trader.keys import TraderKeys
from tentenone.trader.keystore import FileKeyStore, KdfParams, MemoryKeyStore, SecretWords
from tentenone.wallet import InvalidMnemonic, generate_mnemonic

# Cheap Argon2id for tests; the parameters are stored in the file, so unlocking
# uses what sealing used.
FAST = KdfParams(time_cost=1, memory_kib=64, parallelism=1)
WORDS = SecretWords("abandon " * 11 + "about")


@pytest.fixture
def store(tmp_path: Path) -> FileKeyStore:
    ks = FileKeyStore(tmp_path / "keys" / "seed.json", kdf=FAST)
    ks.create(WORDS, "correct horse")
    return ks


def test_round_trip_and_file_mode(store: FileKeyStore) -> None:
    assert store.unlock("correct horse") == WORDS
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    text = store.path.read_text()
    assert "abandon" not in text and "about" not in text


def test_wrong_passphrase(store: FileKeyStore) -> None:
    with pytest.raises(WrongPassphrase, match="does not open"):
        store.unlock("correct horsf")


def test_never_overwrites_a_seed(store: FileKeyStore) -> None:
    before = store.path.read_bytes()
    with pytest.raises(KeyStoreExists):
        store.create(SecretWords(generate_mnemonic()), "another one")
    assert store.path.read_bytes() == before


def test_missing(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreMissing):
        FileKeyStore(tmp_path / "none.json", kdf=FAST).unlock("whatever")


def _edit(path: Path, change: dict[str, object], *, fix_checksum: bool) -> None:
    import hashlib

    body = json.loads(path.read_text())
    for dotted, value in change.items():
        target = body
        *parents, leaf = dotted.split(".")
        for p in parents:
            target = target[p]
        target[leaf] = value
    if fix_checksum:
        header = {k: v for k, v in body.items() if k not in ("ciphertext", "checksum")}
        aad = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        body["checksum"] = hashlib.sha256(aad + base64.b64decode(body["ciphertext"])).hexdigest()
    path.write_text(json.dumps(body))


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def test_damaged_file_is_told_apart_from_a_wrong_passphrase(store: FileKeyStore) -> None:
    body = json.loads(store.path.read_text())
    _edit(store.path, {"ciphertext": _flip(body["ciphertext"])}, fix_checksum=False)
    with pytest.raises(KeyStoreCorrupt, match="checksum"):
        store.unlock("correct horse")


@pytest.mark.parametrize("field", ["ciphertext", "cipher.nonce", "kdf.salt"])
def test_tampering_that_fixes_the_checksum_fails_authentication(
    store: FileKeyStore, field: str
) -> None:
    body = json.loads(store.path.read_text())
    value = body
    for part in field.split("."):
        value = value[part]
    _edit(store.path, {field: _flip(str(value))}, fix_checksum=True)
    with pytest.raises(WrongPassphrase):
        store.unlock("correct horse")


def test_tampered_kdf_parameters_fail_authentication(store: FileKeyStore) -> None:
    _edit(store.path, {"kdf.time_cost": 2}, fix_checksum=True)
    with pytest.raises(WrongPassphrase):
        store.unlock("correct horse")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"kdf.memory_kib": 64 * 1024 * 1024}, "memory"),
        ({"kdf.time_cost": 0}, "time_cost"),
        ({"kdf.name": "pbkdf2"}, "argon2id"),
        ({"format": "other"}, "not a tentenone key store"),
        ({"version": 9}, "version"),
        ({"cipher.nonce": "AAAA"}, "nonce"),
    ],
)
def test_unsafe_or_foreign_parameters_are_refused_before_any_work(
    store: FileKeyStore, change: dict[str, object], why: str
) -> None:
    _edit(store.path, change, fix_checksum=True)
    with pytest.raises(KeyStoreCorrupt, match=why):
        store.unlock("correct horse")


def test_not_json(store: FileKeyStore) -> None:
    store.path.write_bytes(b"\x00garbage")
    with pytest.raises(KeyStoreCorrupt, match="not JSON"):
        store.unlock("correct horse")


def test_change_passphrase(store: FileKeyStore) -> None:
    store.change_passphrase("correct horse", "battery staple")
    assert store.unlock("battery staple") == WORDS
    with pytest.raises(WrongPassphrase):
        store.unlock("correct horse")


def test_bad_input() -> None:
    ks = MemoryKeyStore(kdf=FAST)
    with pytest.raises(TraderInputError, match="4 to 1024"):
        ks.create(WORDS, "abc")
    assert not ks.exists()
    with pytest.raises(InvalidMnemonic):
        SecretWords("abandon abandon")


def test_secrets_never_in_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    keys = TraderKeys(WORDS, Network.REGTEST)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("t").info("state %r %s %r", WORDS, WORDS, keys)
    assert "abandon" not in caplog.text
    assert keys.funding_secret(0).hex() not in repr(keys)
    assert keys.node_pubkey.hex() in repr(keys)


def test_derivation_is_deterministic_and_separated() -> None:
    a = TraderKeys(WORDS, Network.REGTEST)
    b = TraderKeys(SecretWords(WORDS.reveal()), Network.REGTEST)
    main = TraderKeys(WORDS, Network.MAINNET)
    assert a.node_pubkey == b.node_pubkey != main.node_pubkey
    assert a.funding_pubkey(7) == b.funding_pubkey(7) != a.funding_pubkey(8)
    assert len({a.funding_secret(0), a.backup_key(), a.funding_secret(1)}) == 3
    digest = bytes(range(32))
    assert schnorr.verify(a.node_pubkey, digest, a.sign_challenge(digest))
    with pytest.raises(TraderInputError):
        a.funding_secret(-1)
    # The wallet is BIP-84 on the same seed.
    assert a.wallet_account().descriptor().startswith("wpkh([")
