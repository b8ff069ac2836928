"""The node's own indexes, derived from the kernel's active chain.

libbitcoinkernel exposes blocks and undo data but no UTXO lookups, so the
node keeps, in one SQLite database:

- ``chain``: height -> hash of the indexed active chain (its tip is the index tip);
- ``txs``: txid -> block and position (bitcoind's ``txindex``);
- ``utxo``: the unspent outputs (for the mempool, ``gettxout``);
- ``spends``: outpoint -> spending txid and the coin it spent (``txospenderindex``,
  and the undo data to disconnect a block without asking the kernel);
- ``blocks``: the raw bytes of every block the index connected.

libbitcoinkernel flushes its block index and coins database only now and
then, so after a kill -9 it can come back with a lower tip than the blocks
it had accepted (and we had reported). ``restore_kernel`` feeds it our copy
of those blocks again, through full validation, before anything else runs.

Each block is connected or disconnected in one SQLite transaction that also
moves the index tip, so a kill -9 leaves the index at some block boundary;
``sync`` then walks it to the kernel's tip. Nothing here is trusted over the
kernel: on start the index is re-derived from wherever it stopped.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tentenone_devnet.codec import Block, OutPoint, Tx, TxOut
from tentenone_devnet.kernel import Kernel
from tentenone_devnet.scripts import is_unspendable

__all__ = ["ChainIndex", "Coin", "Spend", "TxLocation"]

_log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chain (height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS txs (
    txid BLOB PRIMARY KEY, block_hash BLOB NOT NULL, height INTEGER NOT NULL, pos INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS utxo (
    txid BLOB NOT NULL, n INTEGER NOT NULL, value INTEGER NOT NULL, script BLOB NOT NULL,
    height INTEGER NOT NULL, coinbase INTEGER NOT NULL, PRIMARY KEY (txid, n)
);
CREATE TABLE IF NOT EXISTS spends (
    txid BLOB NOT NULL, n INTEGER NOT NULL, spender BLOB NOT NULL, vin INTEGER NOT NULL,
    height INTEGER NOT NULL, value INTEGER NOT NULL, script BLOB NOT NULL,
    coin_height INTEGER NOT NULL, coinbase INTEGER NOT NULL, PRIMARY KEY (txid, n)
);
CREATE TABLE IF NOT EXISTS blocks (hash BLOB PRIMARY KEY, raw BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS spends_by_height ON spends (height);
CREATE INDEX IF NOT EXISTS txs_by_height ON txs (height);
"""


@dataclass(frozen=True, slots=True)
class Coin:
    out: TxOut
    height: int
    coinbase: bool


@dataclass(frozen=True, slots=True)
class TxLocation:
    block_hash: bytes
    height: int
    pos: int


@dataclass(frozen=True, slots=True)
class Spend:
    spender: bytes
    vin: int
    height: int


#: called with (block, height) after the index has connected / disconnected it
BlockListener = Callable[[Block, int], None]


class ChainIndex:
    def __init__(self, path: Path, kernel: Kernel) -> None:
        self._kernel = kernel
        # check_same_thread=False: the node serialises every call under its own lock.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against a killed process (WAL is in the page cache).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- reads ---------------------------------------------------------------

    @property
    def height(self) -> int:
        row = self._db.execute("SELECT MAX(height) FROM chain").fetchone()
        return -1 if row[0] is None else int(row[0])

    def hash_at(self, height: int) -> bytes | None:
        row = self._db.execute("SELECT hash FROM chain WHERE height=?", (height,)).fetchone()
        return None if row is None else bytes(row[0])

    def height_of(self, block_hash: bytes) -> int | None:
        row = self._db.execute("SELECT height FROM chain WHERE hash=?", (block_hash,)).fetchone()
        return None if row is None else int(row[0])

    def coin(self, outpoint: OutPoint) -> Coin | None:
        row = self._db.execute(
            "SELECT value, script, height, coinbase FROM utxo WHERE txid=? AND n=?",
            (outpoint.txid, outpoint.n),
        ).fetchone()
        if row is None:
            return None
        return Coin(TxOut(int(row[0]), bytes(row[1])), int(row[2]), bool(row[3]))

    def has_outputs_of(self, txid: bytes) -> bool:
        row = self._db.execute("SELECT 1 FROM utxo WHERE txid=? LIMIT 1", (txid,)).fetchone()
        return row is not None

    def locate(self, txid: bytes) -> TxLocation | None:
        row = self._db.execute(
            "SELECT block_hash, height, pos FROM txs WHERE txid=?", (txid,)
        ).fetchone()
        return None if row is None else TxLocation(bytes(row[0]), int(row[1]), int(row[2]))

    def spend_of(self, outpoint: OutPoint) -> Spend | None:
        row = self._db.execute(
            "SELECT spender, vin, height FROM spends WHERE txid=? AND n=?",
            (outpoint.txid, outpoint.n),
        ).fetchone()
        return None if row is None else Spend(bytes(row[0]), int(row[1]), int(row[2]))

    def block_raw(self, block_hash: bytes) -> bytes | None:
        row = self._db.execute("SELECT raw FROM blocks WHERE hash=?", (block_hash,)).fetchone()
        return None if row is None else bytes(row[0])

    def utxo_stats(self) -> tuple[int, int]:
        """(number of unspent outputs, their total value)."""
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(value), 0) FROM utxo").fetchone()
        return int(row[0]), int(row[1])

    def coins_of_script(self, script: bytes, limit: int = 1000) -> list[tuple[OutPoint, Coin]]:
        rows = self._db.execute(
            "SELECT txid, n, value, height, coinbase FROM utxo WHERE script=? "
            "ORDER BY height LIMIT ?",
            (script, limit),
        ).fetchall()
        return [
            (
                OutPoint(bytes(r[0]), int(r[1])),
                Coin(TxOut(int(r[2]), script), int(r[3]), bool(r[4])),
            )
            for r in rows
        ]

    # -- sync ------------------------------------------------------------------

    def restore_kernel(self) -> int:
        """Resubmit indexed blocks the kernel lost (kill -9); returns how many."""
        height = min(self.height, self._kernel.height)
        while height >= 0 and self.hash_at(height) != self._kernel.hash_at(height):
            height -= 1
        replayed = 0
        last_log = time.monotonic()
        for h in range(height + 1, self.height + 1):
            if time.monotonic() - last_log > 2.0:
                _log.info("resubmitting lost blocks", extra={"height": h, "tip": self.height})
                last_log = time.monotonic()
            block_hash = self.hash_at(h)
            raw = self.block_raw(block_hash) if block_hash is not None else None
            if raw is None:
                break
            result = self._kernel.submit(raw)
            if not result.accepted:
                raise RuntimeError(f"kernel refused our own block at {h}: {result.reason}")
            replayed += 1
        return replayed

    def sync(
        self,
        on_connect: BlockListener | None = None,
        on_disconnect: BlockListener | None = None,
        known: dict[bytes, bytes] | None = None,
    ) -> tuple[list[Block], list[Block]]:
        """Bring the index to the kernel's active tip. Returns (disconnected, connected).

        ``known`` maps hashes to raw blocks the caller has at hand (reading a
        block back through pbk's serializer callback costs more than indexing it).
        """
        disconnected: list[Block] = []
        connected: list[Block] = []
        kernel_height = self._kernel.height
        height = self.height
        # Walk back to the last block both chains share.
        while height >= 0 and (
            height > kernel_height or self.hash_at(height) != self._kernel.hash_at(height)
        ):
            block_hash = self.hash_at(height)
            assert block_hash is not None
            raw = self.block_raw(block_hash) or self._kernel.block_bytes(block_hash)
            if raw is None:
                raise RuntimeError(f"no data for indexed block {block_hash[::-1].hex()}")
            block = Block.parse(raw)
            self._disconnect(block, height)
            disconnected.append(block)
            if on_disconnect is not None:
                on_disconnect(block, height)
            height -= 1
        for h in range(height + 1, kernel_height + 1):
            block_hash = self._kernel.hash_at(h)
            raw = (known or {}).get(block_hash) or self._kernel.block_bytes(block_hash)
            if raw is None:
                raise RuntimeError(f"kernel has no data for block at height {h}")
            block = Block.parse(raw)
            self._connect(block, raw, block_hash, h)
            connected.append(block)
            if on_connect is not None:
                on_connect(block, h)
        return disconnected, connected

    def _connect(self, block: Block, raw: bytes, block_hash: bytes, height: int) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT INTO chain (height, hash) VALUES (?, ?)", (height, block_hash))
            db.execute("INSERT OR IGNORE INTO blocks (hash, raw) VALUES (?, ?)", (block_hash, raw))
            for pos, tx in enumerate(block.txs):
                self._connect_tx(tx, block_hash, height, pos)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _connect_tx(self, tx: Tx, block_hash: bytes, height: int, pos: int) -> None:
        db = self._db
        txid = tx.txid
        db.execute(
            "INSERT OR REPLACE INTO txs (txid, block_hash, height, pos) VALUES (?, ?, ?, ?)",
            (txid, block_hash, height, pos),
        )
        coinbase = pos == 0
        if not coinbase:
            for vin, txin in enumerate(tx.vin):
                op = txin.prevout
                row = db.execute(
                    "DELETE FROM utxo WHERE txid=? AND n=? "
                    "RETURNING value, script, height, coinbase",
                    (op.txid, op.n),
                ).fetchone()
                if row is None:
                    raise RuntimeError(f"index has no coin {op} spent in a connected block")
                db.execute(
                    "INSERT OR REPLACE INTO spends VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (op.txid, op.n, txid, vin, height, row[0], row[1], row[2], row[3]),
                )
        if height == 0:
            return  # the genesis coinbase is unspendable and never in the UTXO set
        db.executemany(
            "INSERT OR REPLACE INTO utxo VALUES (?, ?, ?, ?, ?, ?)",
            [
                (txid, n, out.value, out.script_pubkey, height, int(coinbase))
                for n, out in enumerate(tx.vout)
                if not is_unspendable(out.script_pubkey)
            ],
        )

    def _disconnect(self, block: Block, height: int) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            restored = db.execute(
                "DELETE FROM spends WHERE height=? "
                "RETURNING txid, n, value, script, coin_height, coinbase",
                (height,),
            ).fetchall()
            db.executemany("INSERT OR REPLACE INTO utxo VALUES (?, ?, ?, ?, ?, ?)", restored)
            # After the restore: coins created and spent inside this block go too.
            for tx in block.txs:
                db.execute("DELETE FROM utxo WHERE txid=?", (tx.txid,))
                db.execute("DELETE FROM txs WHERE txid=? AND height=?", (tx.txid, height))
            db.execute("DELETE FROM chain WHERE height=?", (height,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
