"""Histories of changed scripts read from the new blocks themselves, not asked per script.

When a block confirms transactions of many watched scripts, the Electrum path
costs a history, a transaction and a merkle proof per script: thousands of
requests that an Electrum server answers one at a time (ADR 0054). With a
block source (a node's ``getblock``), the monitor fetches each new block
once, checks it against the header chain (``tentenone.chain.block``), and
derives a changed script's history: the history it applied last, plus the
block's transactions paying the script or spending a coin it knows of.

The derived history is used only when its Electrum status (sha256 of
``txid:height:`` for each entry, as the protocol defines it) is the status
the server notified: then it is exactly the history the server would send.
Anything else (a spend of a coin we never saw, transactions still in the
mempool, a reorganisation, blocks we could not fetch) leaves the script to
the per-script path, so the result is the same either way, only cheaper.

The notifications of a busy block arrive after its header, and the server
takes a while to send them all. So a round at a new tip does not wait for
them: ``confirmed_in`` finds, in the new blocks, the transactions paying a
watched script or spending a watched outpoint, and the monitor adds those
(proved by the block) to what it knows, removing nothing. When the script's
notification comes, its whole history is checked as above; the events of
the early round are not written again (``depth_done`` says they were).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from tentenone.chain import BlockHeader, HistoryItem, TxInfo
from tentenone.chain.block import BlockSource, BlockTx, parse_block
from tentenone.errors import TentenoneError
from tentenone.logging import get_logger
from tentenone.wire.chain import BlockRef
from tentenone_chain_monitor.reconcile import WatchSpec

__all__ = ["BlockMatcher", "Derived", "electrum_status"]

_log = get_logger(__name__)
#: blocks kept parsed (a round rarely needs more than the newest one or two)
_KEEP = 8

type TxKey = tuple[str, int | None]


def electrum_status(history: Iterable[HistoryItem]) -> str | None:
    """The Electrum protocol's status of a script with this (all confirmed) history."""
    text = "".join(f"{item.txid}:{item.height}:" for item in history)
    return hashlib.sha256(text.encode()).hexdigest() if text else None


@dataclass(frozen=True, slots=True)
class Derived:
    history: list[HistoryItem]
    txs: dict[TxKey, TxInfo]


@dataclass(slots=True)
class _Block:
    header: BlockHeader
    height: int
    paying: dict[bytes, list[BlockTx]] = field(default_factory=dict)
    spending: dict[tuple[str, int], BlockTx] = field(default_factory=dict)

    @classmethod
    def of(cls, header: BlockHeader, height: int, txs: list[BlockTx]) -> _Block:
        block = cls(header, height)
        for tx in txs:
            for script in set(tx.output_scripts):
                block.paying.setdefault(script, []).append(tx)
            for point in tx.spends:
                block.spending[point] = tx
        return block


class BlockMatcher:
    """Derives changed scripts' histories from new blocks (see the module's doc)."""

    def __init__(self, source: BlockSource, max_blocks: int = 6) -> None:
        self._source = source
        self._max_blocks = max_blocks
        self._blocks: dict[str, _Block] = {}
        #: script hash -> (the tip it was applied at, the history applied)
        self._applied: dict[str, tuple[BlockRef, list[HistoryItem]]] = {}

    def applied(self, script_hash: str, tip: BlockRef, history: list[HistoryItem]) -> None:
        self._applied[script_hash] = (tip, history)

    def forget(self, script_hash: str) -> None:
        self._applied.pop(script_hash, None)

    async def close(self) -> None:
        await self._source.close()

    async def derive(
        self,
        tip: BlockRef,
        watches: dict[str, list[WatchSpec]],
        statuses: dict[str, str | None],
        header_at: Callable[[int], Awaitable[BlockHeader | None]],
    ) -> dict[str, Derived]:
        """The histories of the scripts in ``watches`` that the new blocks explain."""
        out: dict[str, Derived] = {}
        for sh, specs in watches.items():
            entry = self._applied.get(sh)
            if entry is None or not 0 < tip.height - entry[0].height <= self._max_blocks:
                continue
            base = await header_at(entry[0].height)
            if base is None or base.hash != entry[0].hash:
                continue  # a reorganisation since: the per-script path sorts it out
            try:
                derived = await self._one(entry, tip, specs, header_at)
            except TentenoneError as exc:
                _log.warning("block source failed, asking per script: %s", exc.message)
                return out
            if derived is not None and electrum_status(derived.history) == statuses.get(sh):
                out[sh] = derived
        return out

    async def _one(
        self,
        entry: tuple[BlockRef, list[HistoryItem]],
        tip: BlockRef,
        specs: list[WatchSpec],
        header_at: Callable[[int], Awaitable[BlockHeader | None]],
    ) -> Derived | None:
        as_of, before = entry
        if any(item.height is None for item in before):
            return None  # mempool entries: their order and heights are the server's own
        script = specs[0].script
        coins = {
            (s.outpoint_txid, s.outpoint_vout)
            for s in specs
            if s.outpoint_txid is not None and s.outpoint_vout is not None
        }
        history = list(before)
        txs: dict[TxKey, TxInfo] = {}
        for height in range(as_of.height + 1, tip.height + 1):
            header = await header_at(height)
            if header is None:
                return None
            block = await self._block(header, height)
            for tx in _touching(block, script, coins):
                history.append(HistoryItem(tx.txid, height))
                txs[(tx.txid, height)] = TxInfo(tx.txid, tx.raw, height, header.hash, tx.position)
        if len({item.txid for item in history}) != len(history):
            return None
        return Derived(history, txs)

    async def confirmed_in(
        self,
        start: int,
        tip: BlockRef,
        watches: Iterable[WatchSpec],
        header_at: Callable[[int], Awaitable[BlockHeader | None]],
    ) -> dict[str, list[TxInfo]]:
        """watch id -> the transactions of blocks ``start``..tip paying its script or
        spending its outpoint (not every spend of a script watch: only the server's
        history has those)."""
        by_script: dict[bytes, list[str]] = {}
        by_point: dict[tuple[str, int], list[str]] = {}
        for spec in watches:
            by_script.setdefault(spec.script, []).append(spec.id)
            if spec.outpoint_txid is not None and spec.outpoint_vout is not None:
                by_point.setdefault((spec.outpoint_txid, spec.outpoint_vout), []).append(spec.id)
        found: dict[str, dict[str, TxInfo]] = {}
        for height in range(start, tip.height + 1):
            header = await header_at(height)
            if header is None:
                return {}
            block = await self._block(header, height)
            hits = [
                (watch_id, tx)
                for script, txs in block.paying.items()
                for watch_id in by_script.get(script, ())
                for tx in txs
            ]
            hits += [
                (watch_id, block.spending[point])
                for point in by_point.keys() & block.spending.keys()
                for watch_id in by_point[point]
            ]
            for watch_id, tx in hits:
                info = TxInfo(tx.txid, tx.raw, height, header.hash, tx.position)
                found.setdefault(watch_id, {})[tx.txid] = info
        return {watch_id: list(txs.values()) for watch_id, txs in found.items()}

    async def _block(self, header: BlockHeader, height: int) -> _Block:
        block = self._blocks.get(header.hash)
        if block is None:
            started = time.perf_counter()
            raw = await self._source.block(header.hash)
            fetched = time.perf_counter()
            block = _Block.of(header, height, parse_block(raw, header))
            _log.debug(
                "block %d: %d bytes fetched in %.3f s, checked and indexed in %.3f s",
                height,
                len(raw),
                fetched - started,
                time.perf_counter() - fetched,
            )
            self._blocks[header.hash] = block
            while len(self._blocks) > _KEEP:
                del self._blocks[next(iter(self._blocks))]
        return block


def _touching(block: _Block, script: bytes, coins: set[tuple[str, int]]) -> list[BlockTx]:
    """The block's transactions paying ``script`` or spending ``coins`` (or their outputs).

    ``coins`` gains the outputs paying ``script`` that were found.
    """
    found = {tx.txid: tx for tx in block.paying.get(script, [])}
    known = coins  # grows with the outputs found: a later block may spend them
    while True:
        for tx in found.values():
            known.update((tx.txid, n) for n, s in enumerate(tx.output_scripts) if s == script)
        more = {
            spender.txid: spender
            for point in known
            if (spender := block.spending.get(point)) is not None and spender.txid not in found
        }
        if not more:
            break
        found.update(more)
    return sorted(found.values(), key=lambda tx: tx.position)
