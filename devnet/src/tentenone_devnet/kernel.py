"""libbitcoinkernel (py-bitcoinkernel) behind a small typed facade.

Every block this node accepts has passed Bitcoin Core's own validation here:
``ChainstateManager.process_block`` runs CheckBlock, ContextualCheckBlock and
ConnectBlock (scripts included) and keeps ``blocks/`` and ``chainstate/``
in the data directory, which is what survives a restart or a kill -9.
"""

from __future__ import annotations

import ctypes
import gc
import threading
from dataclasses import dataclass
from pathlib import Path

import pbk  # type: ignore[import-untyped]
from pbk.capi import KernelOpaquePtr  # type: ignore[import-untyped]

from tentenone_devnet.codec import Block, Header

__all__ = ["BlockStatus", "Kernel", "SubmitResult"]

# Regtest: every header has nBits 0x207fffff, so each block adds the same work.
REGTEST_BITS = 0x207FFFFF
_TARGET = (REGTEST_BITS & 0xFFFFFF) << (8 * ((REGTEST_BITS >> 24) - 3))
BLOCK_WORK = (1 << 256) // (_TARGET + 1)


class _RawBlock(pbk.Block):  # type: ignore[misc]
    """pbk.Block, built with one buffer copy.

    pbk 0.1.0a5 builds its ctypes array by unpacking the bytes as arguments,
    a third of the time of validating a 100-tx block; the C constructor is the same.
    """

    def __init__(self, raw: bytes) -> None:
        buffer = (ctypes.c_ubyte * len(raw)).from_buffer_copy(raw)
        KernelOpaquePtr.__init__(self, buffer, len(raw))


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """What ``process_block`` made of a block."""

    accepted: bool  # valid and stored (maybe not on the active chain)
    new: bool  # not seen before
    reason: str  # "" when accepted, else the kernel's BlockValidationResult name


@dataclass(frozen=True, slots=True)
class BlockStatus:
    hash: bytes
    height: int
    header: Header
    in_active_chain: bool


class Kernel:
    """One ChainstateManager on ``datadir`` (exclusive: one process at a time)."""

    def __init__(self, datadir: Path) -> None:
        datadir.mkdir(parents=True, exist_ok=True)
        self._datadir = datadir
        self._lock = threading.RLock()
        self._checked: dict[bytes, tuple[pbk.ValidationMode, pbk.BlockValidationResult]] = {}
        self._open()

    def _open(self) -> None:
        callbacks = pbk.ValidationInterfaceCallbacks(block_checked=self._on_block_checked)
        self._chainman = pbk.load_chainman(self._datadir, pbk.ChainType.REGTEST, callbacks)
        self._chain = self._chainman.get_active_chain()

    def close(self) -> None:
        """Release the data directory (the kernel holds an exclusive lock on it)."""
        with self._lock:
            del self._chain
            del self._chainman
            gc.collect()

    def flush(self) -> None:
        """Write the kernel's block index and coins to disk.

        libbitcoinkernel has no flush call; destroying the chainstate manager
        flushes, so we close and reopen it.
        """
        with self._lock:
            self.close()
            self._open()

    def _on_block_checked(
        self, _user: object, block: pbk.Block, state: pbk.BlockValidationState
    ) -> None:
        # The state is only valid during the callback: copy what we need.
        self._checked[bytes(block.block_hash)] = (
            state.validation_mode,
            state.block_validation_result,
        )

    def submit(self, raw_block: bytes) -> SubmitResult:
        with self._lock:
            block = _RawBlock(raw_block)
            block_hash = bytes(block.block_hash)
            self._checked.pop(block_hash, None)
            try:
                new = self._chainman.process_block(block)
            except pbk.ProcessBlockException:
                mode, result = self._checked.pop(
                    block_hash, (pbk.ValidationMode.INVALID, pbk.BlockValidationResult.CONSENSUS)
                )
                return SubmitResult(False, True, result.name.lower())
            mode, result = self._checked.pop(
                block_hash, (pbk.ValidationMode.VALID, pbk.BlockValidationResult.UNSET)
            )
            if mode != pbk.ValidationMode.VALID:
                return SubmitResult(False, new, result.name.lower())
            return SubmitResult(True, new, "")

    @property
    def height(self) -> int:
        return int(self._chain.height)

    def hash_at(self, height: int) -> bytes:
        """Hash of the active chain's block at ``height`` (0 <= height <= tip)."""
        with self._lock:
            return bytes(self._chain.block_tree_entries[height].block_hash)

    @property
    def tip_hash(self) -> bytes:
        with self._lock:
            return self.hash_at(self.height)

    def _entry(self, block_hash: bytes) -> pbk.BlockTreeEntry | None:
        entries = self._chainman.block_tree_entries
        key = pbk.BlockHash(block_hash)
        if key not in entries:
            return None
        return entries[key]

    def status(self, block_hash: bytes) -> BlockStatus | None:
        with self._lock:
            entry = self._entry(block_hash)
            if entry is None:
                return None
            header = Header.parse(bytes(entry.block_header))
            in_chain = entry in self._chain.block_tree_entries
            return BlockStatus(block_hash, int(entry.height), header, in_chain)

    def block_bytes(self, block_hash: bytes) -> bytes | None:
        with self._lock:
            entry = self._entry(block_hash)
            if entry is None or entry not in self._chainman.blocks:
                return None
            return bytes(self._chainman.blocks[entry])

    def block(self, block_hash: bytes) -> Block | None:
        raw = self.block_bytes(block_hash)
        return None if raw is None else Block.parse(raw)

    def spent_outputs(self, block_hash: bytes) -> list[list[tuple[int, bytes, int, bool]]] | None:
        """Undo data: per non-coinbase tx, its spent coins as (value, script, height, coinbase)."""
        with self._lock:
            entry = self._entry(block_hash)
            if entry is None or entry.height == 0:
                return None
            if entry not in self._chainman.block_spent_outputs:
                return None
            undo = self._chainman.block_spent_outputs[entry]
            return [
                [
                    (
                        int(c.output.amount),
                        bytes(c.output.script_pubkey),
                        int(c.confirmation_height),
                        bool(c.is_coinbase),
                    )
                    for c in tx_undo.coins
                ]
                for tx_undo in undo.transactions
            ]

    def header_at(self, height: int) -> Header:
        with self._lock:
            entry = self._chain.block_tree_entries[height]
            return Header.parse(bytes(entry.block_header))

    def median_time_past(self, height: int) -> int:
        """Median of the last 11 block times up to ``height`` (GetMedianTimePast)."""
        with self._lock:
            times = sorted(self.header_at(h).time for h in range(max(0, height - 10), height + 1))
        return times[len(times) // 2]

    @staticmethod
    def chainwork(height: int) -> int:
        return (height + 1) * BLOCK_WORK
