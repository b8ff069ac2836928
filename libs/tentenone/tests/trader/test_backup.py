"""Backups: encrypted under the seed's key, versions only grow, stale ones refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tentenone.chain.network import Network
from tentenone.trader.backup import (
    BackupPayload,
    ContractRecord,
    LocalBackupFile,
    blob_version,
    check_fresh,
    decrypt_backup,
    encrypt_backup,
)
from tentenone.trader.errors import BackupCorrupt, BackupStale
from tentenone.trader.keys import TraderKeys
from tentenone.trader.keystore import SecretWords
from tentenone.wallet import generate_mnemonic

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
KEYS = TraderKeys(SecretWords("abandon " * 11 + "about"), Network.REGTEST)


def _contract(pid: str) -> ContractRecord:
    return ContractRecord(
        id=pid,
        state=5,
        version=4,
        position_id=pid,
        market="btcusd1",
        side="long",
        quantity=1000,
        price_cents=5_000_000,
        leverage=5,
        temporary_contract_id="00" * 32,
        offer_hex="ab" * 5000,
        sign_hex="cd" * 100_000,
        maturity=NOW,
        created_at=NOW,
        updated_at=NOW,
    )


def _payload(version: int, state_number: int = 3, pids: tuple[str, ...] = ("p1",)) -> BackupPayload:
    return BackupPayload(
        version=version,
        created_at=NOW,
        network="regtest",
        node_pubkey=KEYS.node_pubkey.hex(),
        state_number=state_number,
        last_seq=7,
        funding_key_next=2,
        contracts=[_contract(p) for p in pids],
        orders=[],
    )


def test_round_trip_and_compression() -> None:
    blob = encrypt_backup(_payload(5), KEYS.backup_key())
    assert blob_version(blob) == 5
    assert decrypt_backup(blob, KEYS.backup_key()) == _payload(5)
    assert len(blob) < 20_000  # hex compresses
    assert b"p1" not in blob  # nothing in clear but the header


def test_another_seed_or_a_damaged_blob_is_refused() -> None:
    blob = encrypt_backup(_payload(5), KEYS.backup_key())
    other = TraderKeys(SecretWords(generate_mnemonic()), Network.REGTEST)
    with pytest.raises(BackupCorrupt, match="another wallet"):
        decrypt_backup(blob, other.backup_key())
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    with pytest.raises(BackupCorrupt):
        decrypt_backup(bytes(flipped), KEYS.backup_key())
    with pytest.raises(BackupCorrupt, match="not a tentenone backup"):
        decrypt_backup(b"XXXX" + blob[4:], KEYS.backup_key())


def test_the_version_cannot_be_relabelled() -> None:
    blob = bytearray(encrypt_backup(_payload(5), KEYS.backup_key()))
    blob[12] = 9  # the low byte of the version
    assert blob_version(bytes(blob)) == 9
    with pytest.raises(BackupCorrupt):
        decrypt_backup(bytes(blob), KEYS.backup_key())


def test_local_file_keeps_the_newest(tmp_path: Path) -> None:
    store = LocalBackupFile(tmp_path / "b" / "backup.bin")
    key = KEYS.backup_key()
    assert store.version() == 0
    v2, v3 = encrypt_backup(_payload(2), key), encrypt_backup(_payload(3), key)
    assert store.write(v2)
    assert store.write(v3)
    assert not store.write(v2)  # older: refused, the newer one stays
    assert store.read() == v3
    assert store.write(v3)  # the same again: fine
    assert not store.write(encrypt_backup(_payload(3), key))  # same version, other bytes
    assert store.read() == v3


def test_stale_detection() -> None:
    payload = _payload(4, state_number=3, pids=("p1",))
    # behind only in the state number: the coordinator moved p1 on its own
    report = check_fresh(payload, 5, {"p1": "settled"})
    assert report.behind and not report.missing_positions
    # a new offer nobody signed yet, or a cancelled one: fine
    check_fresh(payload, 6, {"p1": "open", "p2": "offered", "p3": "cancelled"})
    # a position we signed after the backup: refused
    with pytest.raises(BackupStale, match="p2") as exc:
        check_fresh(payload, 7, {"p1": "open", "p2": "signed"})
    assert exc.value.details["missing"] == ["p2"]
