"""The devnet node: kernel + index + mempool + miner + faucet, under one lock.

Everything that changes state goes through ``Node`` methods, which hold
``Node.lock`` (the RPC server runs handlers in threads). Chain changes all
end in ``_chain_changed``: the index follows the kernel, then the mempool
follows the index (evict confirmed/conflicting, or re-add after a reorg).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from tentenone_devnet.assembly import build_block
from tentenone_devnet.codec import Block, OutPoint, Tx, TxOut, hash_to_hex, sha256d
from tentenone_devnet.faucet import Faucet
from tentenone_devnet.index import ChainIndex
from tentenone_devnet.kernel import Kernel, SubmitResult
from tentenone_devnet.mempool import Mempool
from tentenone_devnet.policy import (
    COINBASE_MATURITY,
    MAX_BLOCK_WEIGHT,
    Reject,
    fee_for,
)

__all__ = ["BlockRejected", "Node", "NodeError"]

_log = logging.getLogger(__name__)
# Room for the coinbase, as Core's miner reserves (DEFAULT_BLOCK_RESERVED_WEIGHT).
_RESERVED_WEIGHT = 8000
_FAUCET_FEE_RATE = 2000  # sat/kvB
_FLUSH_INTERVAL = 30.0  # seconds between kernel flushes while blocks arrive
_PARSED_BLOCKS = 8  # parsed blocks kept for getrawtransaction / getblock


class NodeError(Exception):
    """A request the node cannot carry out (bad argument, no funds)."""


class BlockRejected(NodeError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _JournalEntry:
    raw: bytes
    time: int


class _MempoolJournal:
    """Append-only record of mempool adds/removes, compacted on start.

    Appending (no fsync) survives a killed process: the data is in the page
    cache when the call returns, before the RPC answer is sent.
    """

    def __init__(self, path: Path) -> None:
        self._path = path

    def load(self) -> list[_JournalEntry]:
        entries: dict[str, _JournalEntry] = {}
        if not self._path.exists():
            return []
        for line in self._path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a crash
            if "a" in rec:
                raw = bytes.fromhex(rec["a"])
                entries[Tx.parse(raw).txid_hex] = _JournalEntry(raw, int(rec["t"]))
            elif "r" in rec:
                entries.pop(rec["r"], None)
        return list(entries.values())

    def rewrite(self, txs: list[tuple[Tx, int]]) -> None:
        tmp = self._path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            for tx, when in txs:
                fh.write(json.dumps({"a": tx.raw.hex(), "t": when}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._path)

    def added(self, tx: Tx, when: int) -> None:
        with self._path.open("a") as fh:
            fh.write(json.dumps({"a": tx.raw.hex(), "t": when}) + "\n")

    def removed(self, txid: bytes, _reason: str) -> None:
        with self._path.open("a") as fh:
            fh.write(json.dumps({"r": hash_to_hex(txid)}) + "\n")


class Node:
    def __init__(self, datadir: Path) -> None:
        datadir.mkdir(parents=True, exist_ok=True)
        self.datadir = datadir
        self.lock = threading.RLock()
        self.started = time.time()
        self.kernel = Kernel(datadir / "kernel")
        self.index = ChainIndex(datadir / "index.sqlite", self.kernel)
        self.mempool = Mempool(self.index, self.kernel)
        self.faucet = Faucet(datadir / "faucet.key")
        self._journal = _MempoolJournal(datadir / "mempool.jsonl")
        self._mined: dict[bytes, bytes] = {}  # blocks made here, not yet indexed
        self._parsed: OrderedDict[bytes, Block] = OrderedDict()
        self.stopping = threading.Event()  # long work checks it between blocks
        self._flushed = time.monotonic()
        with self.lock:
            replayed = self.index.restore_kernel()
            if replayed:
                _log.info("resubmitted %d blocks the kernel lost in a crash", replayed)
            self.index.sync()
            self._load_mempool()

    def close(self) -> None:
        with self.lock:
            self.index.close()
            self.kernel.close()

    def _load_mempool(self) -> None:
        loaded = self._journal.load()
        for rec in loaded:
            try:
                self.mempool.add(Tx.parse(rec.raw), bypass_limits=True, entry_time=rec.time)
            except Reject as exc:
                _log.info("dropped a saved mempool tx on load: %s", exc)
        self._journal.rewrite([(e.tx, e.time) for e in self.mempool.entries.values()])
        self.mempool.on_add = self._journal.added
        self.mempool.on_remove = self._journal.removed
        if loaded:
            _log.info("mempool loaded: %d of %d saved txs", len(self.mempool), len(loaded))

    # -- chain -------------------------------------------------------------

    def submit_block(self, raw: bytes) -> SubmitResult:
        with self.lock:
            result = self.kernel.submit(raw)
            self._chain_changed({sha256d(raw[:80]): raw})
            return result

    def _chain_changed(self, known: dict[bytes, bytes] | None = None) -> None:
        disconnected, connected = self.index.sync(known=known or self._mined)
        self._mined = {}
        if (connected or disconnected) and time.monotonic() - self._flushed > _FLUSH_INTERVAL:
            # Bounds what a kill -9 makes the kernel lose (and us replay on start).
            self.kernel.flush()
            self._flushed = time.monotonic()
        if disconnected:
            # Lowest block first so parents are re-added before children.
            readd = [tx for block in reversed(disconnected) for tx in block.txs[1:]]
            dropped = self.mempool.rebuild(readd)
            _log.info(
                "reorg: %d blocks out, %d in; mempool %d txs, %d dropped",
                len(disconnected),
                len(connected),
                len(self.mempool),
                len(dropped),
            )
        else:
            for block in connected:
                self.mempool.block_connected(block)

    def _next_time(self, prev_height: int) -> int:
        return max(int(time.time()), self.kernel.median_time_past(prev_height) + 1)

    def _mine_on(
        self, prev_hash: bytes, prev_height: int, txs: list[Tx], script: bytes, fees: int
    ) -> bytes:
        block = build_block(
            prev_hash, prev_height + 1, self._next_time(prev_height), txs, script, fees
        )
        raw = block.serialize()
        result = self.kernel.submit(raw)
        if not result.accepted:
            raise BlockRejected(result.reason)
        self._mined[block.header.hash] = raw
        return block.header.hash

    def generate(self, count: int, script: bytes) -> list[bytes]:
        """Mine ``count`` blocks on the tip with the mempool's transactions."""
        hashes: list[bytes] = []
        last_log = time.monotonic()
        with self.lock:
            for done in range(count):
                if self.stopping.is_set():
                    raise NodeError(f"node stopping: mined {done} of {count} blocks")
                if time.monotonic() - last_log > 2.0:
                    _log.info("mining progress", extra={"done": done, "total": count})
                    last_log = time.monotonic()
                template = self.mempool.block_template(MAX_BLOCK_WEIGHT - _RESERVED_WEIGHT)
                fees = sum(e.fee for e in template)
                tip = self.index.height
                prev = self.index.hash_at(tip)
                assert prev is not None
                hashes.append(self._mine_on(prev, tip, [e.tx for e in template], script, fees))
                self._chain_changed()
        return hashes

    def persist_mempool(self) -> None:
        with self.lock:
            self._journal.rewrite([(e.tx, e.time) for e in self.mempool.entries.values()])

    def build_block_on_tip(self, script: bytes, txs: list[Tx]) -> Block:
        with self.lock:
            tip = self.index.height
            prev = self.index.hash_at(tip)
            assert prev is not None
            fees = sum(
                self.mempool.entries[t.txid].fee for t in txs if t.txid in self.mempool.entries
            )
            return build_block(prev, tip + 1, self._next_time(tip), txs, script, fees)

    def generate_block(self, script: bytes, txs: list[Tx]) -> bytes:
        """One block with exactly ``txs`` (mempool fees claimed, others burnt)."""
        with self.lock:
            fees = sum(
                self.mempool.entries[t.txid].fee for t in txs if t.txid in self.mempool.entries
            )
            tip = self.index.height
            prev = self.index.hash_at(tip)
            assert prev is not None
            try:
                block_hash = self._mine_on(prev, tip, txs, script, fees)
            finally:
                self._chain_changed()
            return block_hash

    def reorg(
        self, from_height: int, blocks: int | None, script: bytes, txs: list[Tx] | None = None
    ) -> list[bytes]:
        """Replace the blocks from ``from_height`` up with a longer branch.

        The branch's first block carries ``txs`` (e.g. a conflicting spend); the
        others are empty, so the replaced blocks' transactions go back to the mempool.
        """
        with self.lock:
            tip = self.index.height
            if not 1 <= from_height <= tip:
                raise NodeError(f"reorg height {from_height} outside 1..{tip}")
            count = blocks if blocks is not None else tip - from_height + 2
            if from_height - 1 + count <= tip:
                raise NodeError(
                    f"a branch of {count} blocks from height {from_height} ends at "
                    f"{from_height - 1 + count}, not above the tip {tip}: it would not win"
                )
            prev_height = from_height - 1
            prev = self.index.hash_at(prev_height)
            assert prev is not None
            hashes: list[bytes] = []
            try:
                for i in range(count):
                    prev = self._mine_on(
                        prev, prev_height, list(txs or []) if i == 0 else [], script, 0
                    )
                    hashes.append(prev)
                    prev_height += 1
            finally:
                self._chain_changed()
            return hashes

    # -- faucet ------------------------------------------------------------

    def fund(self, script: bytes, amount: int) -> Tx:
        """Send ``amount`` sats from the faucet's mature coins; the tx enters the mempool."""
        with self.lock:
            tip = self.index.height
            fee = fee_for(_FAUCET_FEE_RATE, 200)
            coins: list[tuple[OutPoint, TxOut]] = []
            total = 0
            for op, out in self._faucet_coins(tip):
                coins.append((op, out))
                total += out.value
                if total >= amount + fee * len(coins) or len(coins) >= 50:
                    break
            fee = fee_for(_FAUCET_FEE_RATE, 110 + 68 * len(coins))
            if total < amount + fee:
                raise NodeError(
                    f"faucet has {total} sats in mature coins, needs {amount + fee}: mine more"
                )
            tx = self.faucet.spend(coins, [TxOut(amount, script)], fee)
            self.mempool.add(tx)
            return tx

    def _faucet_coins(self, tip: int) -> list[tuple[OutPoint, TxOut]]:
        """Mature confirmed faucet coins first, then its unconfirmed change."""
        found: list[tuple[OutPoint, TxOut]] = []
        for op, coin in self.index.coins_of_script(self.faucet.script, limit=5000):
            mature = not coin.coinbase or tip + 1 - coin.height >= COINBASE_MATURITY
            if mature and self.mempool.spender_of(op) is None:
                found.append((op, coin.out))
        for txid, entry in self.mempool.entries.items():
            if len(self.mempool.ancestors(txid)) >= 20:  # stay below the chain limit (25)
                continue
            for n, out in enumerate(entry.tx.vout):
                op = OutPoint(txid, n)
                if out.script_pubkey == self.faucet.script and self.mempool.spender_of(op) is None:
                    found.append((op, out))
        return found

    # -- views -------------------------------------------------------------

    def block_bytes(self, block_hash: bytes) -> bytes | None:
        """Our copy first (fast), the kernel's for blocks never on our active chain."""
        with self.lock:
            return self.index.block_raw(block_hash) or self.kernel.block_bytes(block_hash)

    def block(self, block_hash: bytes) -> Block | None:
        """The parsed block (read-only: shared with other callers).

        The last few are kept: an Electrum server asks for a new block's
        transactions one ``getrawtransaction`` at a time, and parsing the whole
        block for each made that quadratic (bitcoind reads just the one tx).
        """
        with self.lock:
            cached = self._parsed.get(block_hash)
            if cached is not None:
                self._parsed.move_to_end(block_hash)
                return cached
            raw = self.block_bytes(block_hash)
            if raw is None:
                return None
            block = Block.parse(raw)
            self._parsed[block_hash] = block
            while len(self._parsed) > _PARSED_BLOCKS:
                self._parsed.popitem(last=False)
            return block
