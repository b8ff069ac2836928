"""Whole blocks: fetched from a bitcoind-compatible node, checked against our header chain.

The Electrum protocol serves no blocks, and asking it for each transaction and
each merkle proof of a busy block costs thousands of round trips. A node's
``getblock <hash> 0`` returns the block in one reply; it is trusted for
nothing: the header must hash to the block our proof-of-work-checked header
chain has at that height, and the merkle root of the transactions' ids must
be the header's. That proves every transaction of the block at once, as a
merkle branch proves one (BIP-157 clients fetch and check blocks the same way).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from tentenone.chain.errors import BadMerkleProof, ChainUnavailable, MalformedReply
from tentenone.chain.headers import HEADER_SIZE, BlockHeader

__all__ = ["BitcoindBlockSource", "BlockSource", "BlockTx", "parse_block"]


def _dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


@dataclass(frozen=True, slots=True)
class BlockTx:
    """A transaction of a checked block: what the chain monitor matches watches with."""

    txid: str
    raw: bytes
    position: int
    #: the output scripts, by output index
    output_scripts: tuple[bytes, ...]
    #: the outpoints its inputs spend, as (txid, vout)
    spends: tuple[tuple[str, int], ...]


class BlockSource(Protocol):
    async def block(self, block_hash: str) -> bytes:
        """The serialized block (``getblock <hash> 0``); raise ``ChainUnavailable``."""
        ...

    async def close(self) -> None: ...


class BitcoindBlockSource:
    """``getblock <hash> 0`` over a bitcoind-compatible JSON-RPC (the devnet node, bitcoind)."""

    def __init__(self, url: str, user: str, password: str, *, timeout_s: float = 10.0) -> None:
        self._url = url
        self._http = httpx.AsyncClient(timeout=timeout_s, auth=(user, password))

    async def block(self, block_hash: str) -> bytes:
        body = {"jsonrpc": "1.0", "id": "block", "method": "getblock", "params": [block_hash, 0]}
        try:
            reply = await self._http.post(self._url, json=body)
            answer = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChainUnavailable(f"block {block_hash} from {self._url}: {exc!r}") from None
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, str):
            raise ChainUnavailable(f"block {block_hash} from {self._url}: {str(answer)[:200]}")
        try:
            return bytes.fromhex(result)
        except ValueError:
            raise MalformedReply(f"block {block_hash} from {self._url} is not hex") from None

    async def close(self) -> None:
        await self._http.aclose()


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise MalformedReply("block ends inside a transaction")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def varint(self) -> int:
        first = self.take(1)[0]
        if first < 0xFD:
            return first
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        return int.from_bytes(self.take(size), "little")


def _parse_tx(r: _Reader, position: int) -> BlockTx:
    start = r.pos
    r.take(4)
    segwit = r.data[r.pos : r.pos + 2] == b"\x00\x01"
    if segwit:
        r.take(2)
    body_start = r.pos
    spends = []
    for _ in range(r.varint()):
        prevout = r.take(36)
        spends.append((prevout[:32][::-1].hex(), int.from_bytes(prevout[32:], "little")))
        r.take(r.varint())  # scriptSig
        r.take(4)  # sequence
    scripts = []
    for _ in range(r.varint()):
        r.take(8)
        scripts.append(r.take(r.varint()))
    body_end = r.pos
    if segwit:
        for _ in spends:
            for _ in range(r.varint()):
                r.take(r.varint())
    locktime = r.take(4)
    raw = r.data[start : r.pos]
    stripped = raw[:4] + r.data[body_start:body_end] + locktime if segwit else raw
    txid = _dsha(stripped)[::-1].hex()
    return BlockTx(txid, raw, position, tuple(scripts), tuple(spends))


def _merkle_root(txids: Sequence[bytes]) -> bytes:
    level = list(txids)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [_dsha(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def parse_block(raw: bytes, header: BlockHeader) -> list[BlockTx]:
    """The transactions of ``raw``; raise ``BadMerkleProof`` unless it is ``header``'s block."""
    if raw[:HEADER_SIZE] != header.raw:
        raise BadMerkleProof(f"the block served for {header.hash} has another header")
    r = _Reader(raw)
    r.pos = HEADER_SIZE
    try:
        txs = [_parse_tx(r, n) for n in range(r.varint())]
    except (KeyError, IndexError):
        raise MalformedReply(f"block {header.hash} does not parse") from None
    if r.pos != len(raw) or not txs:
        raise MalformedReply(f"block {header.hash} has trailing bytes or no transaction")
    ids = [bytes.fromhex(tx.txid)[::-1] for tx in txs]
    if len(set(ids)) != len(ids):
        # The duplicated-subtree ambiguity of the merkle tree (CVE-2012-2459).
        raise BadMerkleProof(f"block {header.hash} lists a transaction twice")
    if _merkle_root(ids) != header.merkle_root:
        raise BadMerkleProof(f"the transactions served for {header.hash} are not its merkle root")
    return txs
