"""Build and mine block headers for tests (regtest targets need ~2 tries per header)."""

from __future__ import annotations

import hashlib

from tentenone.chain.headers import BlockHeader, bits_to_target

REGTEST_GENESIS = BlockHeader(
    (1).to_bytes(4, "little")
    + bytes(32)
    + bytes.fromhex("4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b")[::-1]
    + (1296688602).to_bytes(4, "little")
    + (0x207FFFFF).to_bytes(4, "little")
    + (2).to_bytes(4, "little")
)


def dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def mine(prev: BlockHeader, time: int, bits: int = 0x207FFFFF, salt: bytes = b"") -> BlockHeader:
    """A header on ``prev`` meeting ``bits``; ``salt`` makes sibling branches differ."""
    target = bits_to_target(bits)
    root = dsha(prev.raw + salt + time.to_bytes(4, "little"))
    for nonce in range(1_000_000):
        raw = (
            (0x20000000).to_bytes(4, "little")
            + bytes.fromhex(prev.hash)[::-1]
            + root
            + time.to_bytes(4, "little")
            + bits.to_bytes(4, "little")
            + nonce.to_bytes(4, "little")
        )
        header = BlockHeader(raw)
        if header.hash_int <= target:
            return header
    raise AssertionError("no nonce found")


def unmined(prev: BlockHeader, time: int, bits: int = 0x207FFFFF) -> BlockHeader:
    """A header on ``prev`` whose hash misses its target (not enough work)."""
    target = bits_to_target(bits)
    for nonce in range(1_000_000):
        raw = (
            (0x20000000).to_bytes(4, "little")
            + bytes.fromhex(prev.hash)[::-1]
            + bytes(32)
            + time.to_bytes(4, "little")
            + bits.to_bytes(4, "little")
            + nonce.to_bytes(4, "little")
        )
        header = BlockHeader(raw)
        if header.hash_int > target:
            return header
    raise AssertionError("every nonce met the target")


def chain_on(
    prev: BlockHeader, count: int, start_time: int, salt: bytes = b""
) -> list[BlockHeader]:
    out = []
    for i in range(count):
        prev = mine(prev, start_time + i, salt=salt)
        out.append(prev)
    return out
