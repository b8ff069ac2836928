"""Bitcoin consensus serialization of transactions, headers and blocks.

Only the byte formats: parsing, serializing, txid/wtxid, weight. Validation
is libbitcoinkernel's (see ``kernel.py``); this module never judges a rule.

Why not ``tentenone.bitcoin.tx`` (ADR 0053): that parser is strict on purpose
and refuses what a node must still read to reject it with bitcoind's words
(an output above 21M BTC is ``bad-txns-vout-toolarge`` here, not a decode
error), and the node needs headers, blocks and Core's decode error texts. The
primitives are shared: ``sha256d`` and ``compact_size`` are tentenone.bitcoin's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import cached_property

from tentenone.bitcoin.hashes import hash256 as sha256d
from tentenone.bitcoin.tx import encode_varint as compact_size

__all__ = [
    "COIN",
    "WITNESS_SCALE_FACTOR",
    "Block",
    "DecodeError",
    "Header",
    "OutPoint",
    "Tx",
    "TxIn",
    "TxOut",
    "compact_size",
    "hash_to_hex",
    "hex_to_hash",
    "merkle_root",
    "sha256d",
]

COIN = 100_000_000
WITNESS_SCALE_FACTOR = 4
_MAX_VECTOR = 4_000_000


class DecodeError(ValueError):
    """The bytes are not a well-formed transaction, header or block."""


def hash_to_hex(h: bytes) -> str:
    """Internal (little-endian) hash bytes to the reversed hex bitcoind prints."""
    return h[::-1].hex()


def hex_to_hash(s: str) -> bytes:
    return bytes.fromhex(s)[::-1]


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise DecodeError("unexpected end of data")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")

    def i32(self) -> int:
        return int.from_bytes(self.take(4), "little", signed=True)

    def i64(self) -> int:
        return int.from_bytes(self.take(8), "little", signed=True)

    def varint(self) -> int:
        first = self.u8()
        if first < 0xFD:
            return first
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        value = int.from_bytes(self.take(size), "little")
        # Non-canonical sizes are rejected by Core's ReadCompactSize.
        if value < {2: 0xFD, 4: 0x10000, 8: 0x100000000}[size]:
            raise DecodeError("non-canonical compact size")
        return value

    def varbytes(self) -> bytes:
        n = self.varint()
        if n > _MAX_VECTOR:
            raise DecodeError("size too large")
        return self.take(n)


@dataclass(frozen=True, slots=True)
class OutPoint:
    txid: bytes  # internal byte order
    n: int

    def is_null(self) -> bool:
        return self.n == 0xFFFFFFFF and self.txid == b"\x00" * 32

    def __str__(self) -> str:
        return f"{hash_to_hex(self.txid)}:{self.n}"


@dataclass(slots=True)
class TxIn:
    prevout: OutPoint
    script_sig: bytes = b""
    sequence: int = 0xFFFFFFFF
    witness: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TxOut:
    value: int
    script_pubkey: bytes

    def serialize(self) -> bytes:
        return (
            struct.pack("<q", self.value)
            + compact_size(len(self.script_pubkey))
            + (self.script_pubkey)
        )


@dataclass(eq=False)
class Tx:
    """A transaction. Treat as immutable once its ids have been read."""

    version: int
    vin: list[TxIn]
    vout: list[TxOut]
    locktime: int = 0

    @classmethod
    def parse(cls, data: bytes) -> Tx:
        reader = _Reader(data)
        tx = cls._read(reader)
        if reader.pos != len(data):
            raise DecodeError("trailing bytes after transaction")
        return tx

    @classmethod
    def _read(cls, r: _Reader) -> Tx:
        version = r.i32()
        n_in = r.varint()
        segwit = False
        if n_in == 0:
            flag = r.u8()
            if flag != 1:
                raise DecodeError("unknown transaction optional data")
            segwit = True
            n_in = r.varint()
        vin = []
        for _ in range(n_in):
            txid = r.take(32)
            n = r.u32()
            vin.append(TxIn(OutPoint(txid, n), r.varbytes(), r.u32()))
        vout = [TxOut(r.i64(), r.varbytes()) for _ in range(r.varint())]
        if segwit:
            for txin in vin:
                txin.witness = [r.varbytes() for _ in range(r.varint())]
            if not any(txin.witness for txin in vin):
                raise DecodeError("superfluous witness record")
        return cls(version, vin, vout, r.u32())

    def has_witness(self) -> bool:
        return any(txin.witness for txin in self.vin)

    def _body(self, with_witness: bool) -> bytes:
        parts = [struct.pack("<i", self.version)]
        if with_witness:
            parts.append(b"\x00\x01")
        parts.append(compact_size(len(self.vin)))
        for txin in self.vin:
            parts += [
                txin.prevout.txid,
                struct.pack("<I", txin.prevout.n),
                compact_size(len(txin.script_sig)),
                txin.script_sig,
                struct.pack("<I", txin.sequence),
            ]
        parts.append(compact_size(len(self.vout)))
        parts += [out.serialize() for out in self.vout]
        if with_witness:
            for txin in self.vin:
                parts.append(compact_size(len(txin.witness)))
                for item in txin.witness:
                    parts += [compact_size(len(item)), item]
        parts.append(struct.pack("<I", self.locktime))
        return b"".join(parts)

    @cached_property
    def raw(self) -> bytes:
        """Serialized with witness when there is one (what the network carries)."""
        return self._body(self.has_witness())

    @cached_property
    def stripped(self) -> bytes:
        return self._body(False)

    @cached_property
    def txid(self) -> bytes:
        return sha256d(self.stripped)

    @cached_property
    def wtxid(self) -> bytes:
        return sha256d(self.raw)

    @property
    def txid_hex(self) -> str:
        return hash_to_hex(self.txid)

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def weight(self) -> int:
        return len(self.stripped) * (WITNESS_SCALE_FACTOR - 1) + len(self.raw)

    @property
    def vsize(self) -> int:
        return (self.weight + WITNESS_SCALE_FACTOR - 1) // WITNESS_SCALE_FACTOR

    def is_coinbase(self) -> bool:
        return len(self.vin) == 1 and self.vin[0].prevout.is_null()


@dataclass(frozen=True, slots=True)
class Header:
    version: int
    prev_hash: bytes
    merkle_root: bytes
    time: int
    bits: int
    nonce: int

    def serialize(self) -> bytes:
        return (
            struct.pack("<i", self.version)
            + self.prev_hash
            + self.merkle_root
            + struct.pack("<III", self.time, self.bits, self.nonce)
        )

    @classmethod
    def parse(cls, data: bytes) -> Header:
        if len(data) != 80:
            raise DecodeError("a header is 80 bytes")
        version = struct.unpack_from("<i", data, 0)[0]
        time, bits, nonce = struct.unpack_from("<III", data, 68)
        return cls(version, data[4:36], data[36:68], time, bits, nonce)

    @property
    def hash(self) -> bytes:
        return sha256d(self.serialize())


@dataclass
class Block:
    header: Header
    txs: list[Tx]

    def serialize(self) -> bytes:
        return b"".join(
            [self.header.serialize(), compact_size(len(self.txs)), *(t.raw for t in self.txs)]
        )

    @classmethod
    def parse(cls, data: bytes) -> Block:
        reader = _Reader(data, 80)
        header = Header.parse(data[:80])
        txs = [Tx._read(reader) for _ in range(reader.varint())]
        if reader.pos != len(data):
            raise DecodeError("trailing bytes after block")
        return cls(header, txs)


def merkle_root(hashes: list[bytes]) -> bytes:
    """The merkle root as Core computes it (the last hash doubled on odd levels)."""
    if not hashes:
        return b"\x00" * 32
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]
