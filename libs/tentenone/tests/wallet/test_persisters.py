from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import MetaData

from tentenone.store import Database
from tentenone.wallet import (
    FilePersister,
    InvalidWalletInput,
    MemoryPersister,
    StoredTx,
    WalletPersister,
    WalletState,
)
from tentenone.wallet.persist_db import DatabasePersister, wallet_state_table


def _state(n: int) -> WalletState:
    return WalletState(
        descriptor="wpkh(...)",
        issued={0: n, 1: 1},
        statuses={"ab" * 32: "cd" * 32},
        histories={"ab" * 32: [("11" * 32, 100 + n), ("22" * 32, None)]},
        txs={"11" * 32: StoredTx(raw="00", height=100 + n, block_hash="ee" * 32, seen=True)},
        locked={f"{'11' * 32}:0": "dlc"},
    )


async def _round_trip(persister: WalletPersister) -> None:
    assert await persister.load() is None
    await persister.save(_state(1))
    assert await persister.load() == _state(1)
    await persister.save(_state(2))
    assert await persister.load() == _state(2)


async def test_memory_and_file_persisters(tmp_path: Path) -> None:
    await _round_trip(MemoryPersister())
    await _round_trip(FilePersister(tmp_path / "w" / "wallet.json"))
    assert not list((tmp_path / "w").glob(".wallet-*"))  # no temporary file left behind


async def test_database_persister_on_both_backends(db_url: str) -> None:
    metadata = MetaData()
    table = wallet_state_table(metadata)
    db = Database(db_url, service="wallettest", metadata=metadata)
    try:
        await db.create_all()
        await _round_trip(DatabasePersister(db, table, "app"))
        other = DatabasePersister(db, table, "coordinator")
        assert await other.load() is None  # one row per wallet id
        await other.save(_state(7))
        assert (await DatabasePersister(db, table, "app").load()) == _state(2)
        with pytest.raises(InvalidWalletInput):
            DatabasePersister(db, table, "")
    finally:
        await db.close()
