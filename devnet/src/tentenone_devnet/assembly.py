"""Block assembly: coinbase (BIP34 height, BIP141 witness commitment), merkle root, PoW.

Regtest's target is about 2^255, so grinding the nonce takes two tries on
average. Whether the result is valid is decided by the kernel, not here.
"""

from __future__ import annotations

import hashlib
import os

from tentenone_devnet.codec import (
    COIN,
    Block,
    Header,
    OutPoint,
    Tx,
    TxIn,
    TxOut,
    merkle_root,
    sha256d,
)
from tentenone_devnet.kernel import REGTEST_BITS

__all__ = [
    "BLOCK_VERSION",
    "HALVING_INTERVAL",
    "build_block",
    "coinbase_tx",
    "height_push",
    "subsidy",
]

BLOCK_VERSION = 0x20000000
#: consensus.nSubsidyHalvingInterval on regtest
HALVING_INTERVAL = 150
_WITNESS_MAGIC = bytes.fromhex("aa21a9ed")
_TARGET = (REGTEST_BITS & 0xFFFFFF) << (8 * ((REGTEST_BITS >> 24) - 3))


def subsidy(height: int) -> int:
    halvings = height // HALVING_INTERVAL
    return 0 if halvings >= 64 else (50 * COIN) >> halvings


def height_push(height: int) -> bytes:
    """``CScript() << nHeight``: what BIP34 requires the coinbase scriptSig to start with."""
    if height == 0:
        return b"\x00"
    if 1 <= height <= 16:
        return bytes((0x50 + height,))
    num = height.to_bytes((height.bit_length() + 8) // 8, "little")
    return bytes((len(num),)) + num


def coinbase_tx(height: int, script_pubkey: bytes, value: int, witness_root: bytes | None) -> Tx:
    # A random extranonce keeps coinbases of competing branches distinct txids.
    script_sig = height_push(height) + b"\x08" + os.urandom(8)
    outputs = [TxOut(value, script_pubkey)]
    witness: list[bytes] = []
    if witness_root is not None:
        reserved = b"\x00" * 32
        commitment = sha256d(witness_root + reserved)
        outputs.append(TxOut(0, b"\x6a\x24" + _WITNESS_MAGIC + commitment))
        witness = [reserved]
    txin = TxIn(OutPoint(b"\x00" * 32, 0xFFFFFFFF), script_sig, 0xFFFFFFFF, witness)
    return Tx(2, [txin], outputs, 0)


def build_block(
    prev_hash: bytes,
    height: int,
    time: int,
    txs: list[Tx],
    script_pubkey: bytes,
    fees: int,
) -> Block:
    """A solved block on ``prev_hash`` paying subsidy + ``fees`` to ``script_pubkey``."""
    # The coinbase's wtxid counts as zero in the witness merkle tree (BIP141).
    witness_root = merkle_root([b"\x00" * 32] + [t.wtxid for t in txs])
    coinbase = coinbase_tx(height, script_pubkey, subsidy(height) + fees, witness_root)
    all_txs = [coinbase, *txs]
    root = merkle_root([t.txid for t in all_txs])
    header = _solve(Header(BLOCK_VERSION, prev_hash, root, time, REGTEST_BITS, 0))
    return Block(header, all_txs)


def _solve(header: Header) -> Header:
    prefix = header.serialize()[:76]
    nonce = 0
    while True:
        digest = hashlib.sha256(hashlib.sha256(prefix + nonce.to_bytes(4, "little")).digest())
        if int.from_bytes(digest.digest(), "little") <= _TARGET:
            return Header(
                header.version,
                header.prev_hash,
                header.merkle_root,
                header.time,
                header.bits,
                nonce,
            )
        nonce += 1
