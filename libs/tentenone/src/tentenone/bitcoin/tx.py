"""Bitcoin transactions: typed values, serialization (BIP-144) and a strict parser.

Public names (stable): ``OutPoint``, ``TxIn``, ``TxOut``, ``Transaction``,
``parse_transaction``, ``MAX_MONEY``, ``SEQUENCE_FINAL``,
``SEQUENCE_ENABLE_LOCKTIME``.

A transaction id (``txid``) is kept in internal byte order (as serialized);
``Transaction.txid_hex()`` gives the usual display order (reversed).
``parse_transaction`` raises only ``TransactionDecodeError`` on any input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tentenone.bitcoin.errors import InvalidAmount, TransactionDecodeError
from tentenone.bitcoin.hashes import hash256

__all__ = [
    "MAX_MONEY",
    "SEQUENCE_ENABLE_LOCKTIME",
    "SEQUENCE_FINAL",
    "OutPoint",
    "Transaction",
    "TxIn",
    "TxOut",
    "encode_varint",
    "parse_transaction",
]

MAX_MONEY = 21_000_000 * 100_000_000
SEQUENCE_FINAL = 0xFFFFFFFF
#: A sequence below final, so that nLockTime is enforced.
SEQUENCE_ENABLE_LOCKTIME = 0xFFFFFFFE


def encode_varint(n: int) -> bytes:
    """Bitcoin's CompactSize."""
    if n < 0xFD:
        return n.to_bytes(1, "little")
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def _varbytes(data: bytes) -> bytes:
    return encode_varint(len(data)) + data


@dataclass(frozen=True, slots=True)
class OutPoint:
    txid: bytes  # 32 bytes, internal byte order
    vout: int

    def __post_init__(self) -> None:
        if len(self.txid) != 32:
            raise TransactionDecodeError(f"outpoint txid: expected 32 bytes, got {len(self.txid)}")
        if not 0 <= self.vout <= 0xFFFFFFFF:
            raise TransactionDecodeError(f"outpoint vout {self.vout} is not a u32")

    @classmethod
    def from_hex(cls, txid_display: str, vout: int) -> OutPoint:
        """From a txid in display order (as block explorers and RPCs print it)."""
        return cls(bytes.fromhex(txid_display)[::-1], vout)

    def serialize(self) -> bytes:
        return self.txid + self.vout.to_bytes(4, "little")


@dataclass(frozen=True, slots=True)
class TxIn:
    outpoint: OutPoint
    script_sig: bytes = b""
    sequence: int = SEQUENCE_FINAL
    witness: tuple[bytes, ...] = ()

    def serialize(self) -> bytes:
        return (
            self.outpoint.serialize()
            + _varbytes(self.script_sig)
            + self.sequence.to_bytes(4, "little")
        )


@dataclass(frozen=True, slots=True)
class TxOut:
    value: int
    script_pubkey: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.value <= MAX_MONEY:
            raise InvalidAmount(f"output value {self.value} is outside 0..{MAX_MONEY}")

    def serialize(self) -> bytes:
        return self.value.to_bytes(8, "little") + _varbytes(self.script_pubkey)


@dataclass(frozen=True, slots=True)
class Transaction:
    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int = 0
    _txid: list[bytes] = field(default_factory=list, compare=False, repr=False)

    @property
    def has_witness(self) -> bool:
        return any(txin.witness for txin in self.inputs)

    def serialize(self, *, include_witness: bool = True) -> bytes:
        """BIP-144 serialization; without witness data when no input has any."""
        segwit = include_witness and self.has_witness
        parts = [self.version.to_bytes(4, "little")]
        if segwit:
            parts.append(b"\x00\x01")
        parts.append(encode_varint(len(self.inputs)))
        parts.extend(txin.serialize() for txin in self.inputs)
        parts.append(encode_varint(len(self.outputs)))
        parts.extend(txout.serialize() for txout in self.outputs)
        if segwit:
            for txin in self.inputs:
                parts.append(encode_varint(len(txin.witness)))
                parts.extend(_varbytes(item) for item in txin.witness)
        parts.append(self.locktime.to_bytes(4, "little"))
        return b"".join(parts)

    def txid(self) -> bytes:
        """Double SHA256 of the serialization without witness, internal byte order."""
        if not self._txid:
            self._txid.append(hash256(self.serialize(include_witness=False)))
        return self._txid[0]

    def txid_hex(self) -> str:
        return self.txid()[::-1].hex()

    def weight(self) -> int:
        """BIP-141 weight: 3 * base size + total size."""
        base = len(self.serialize(include_witness=False))
        return 3 * base + len(self.serialize())

    def vsize(self) -> int:
        return (self.weight() + 3) // 4

    def with_witnesses(self, witnesses: Sequence[tuple[bytes, ...]]) -> Transaction:
        """The same transaction with the given witness stack on each input."""
        if len(witnesses) != len(self.inputs):
            raise TransactionDecodeError(
                f"{len(witnesses)} witnesses for {len(self.inputs)} inputs"
            )
        inputs = tuple(
            TxIn(txin.outpoint, txin.script_sig, txin.sequence, tuple(w))
            for txin, w in zip(self.inputs, witnesses, strict=True)
        )
        return Transaction(self.version, inputs, self.outputs, self.locktime)


class _Reader:
    """Bounds-checked cursor over bytes; every failure is a TransactionDecodeError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise TransactionDecodeError(f"truncated transaction: {what} needs {n} bytes")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "little")

    def varint(self, what: str) -> int:
        first = self.uint(1, what)
        if first < 0xFD:
            return first
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        value = self.uint(size, what)
        if value < {2: 0xFD, 4: 0x10000, 8: 0x100000000}[size]:
            raise TransactionDecodeError(f"non-canonical CompactSize for {what}")
        return value

    def count(self, what: str, min_item_size: int) -> int:
        n = self.varint(what)
        if n * min_item_size > len(self.data) - self.pos:
            raise TransactionDecodeError(f"{what} {n} exceeds the remaining bytes")
        return n

    def varbytes(self, what: str) -> bytes:
        return self.take(self.count(what, 1), what)


def _parse_input(r: _Reader, i: int) -> TxIn:
    txid = r.take(32, f"input {i} txid")
    vout = r.uint(4, f"input {i} vout")
    script_sig = r.varbytes(f"input {i} scriptSig")
    sequence = r.uint(4, f"input {i} sequence")
    return TxIn(OutPoint(txid, vout), script_sig, sequence)


def _parse_output(r: _Reader, i: int) -> TxOut:
    value = r.uint(8, f"output {i} value")
    if value > MAX_MONEY:
        raise TransactionDecodeError(f"output {i} value {value} exceeds 21M BTC")
    return TxOut(value, r.varbytes(f"output {i} scriptPubKey"))


def parse_transaction(raw: bytes) -> Transaction:
    """Parse exactly one serialized transaction (with or without witness data)."""
    if not isinstance(raw, bytes | bytearray):
        raise TransactionDecodeError("a transaction is bytes")
    r = _Reader(bytes(raw))
    version = r.uint(4, "version")
    segwit = False
    if r.data[r.pos : r.pos + 1] == b"\x00":
        flag = r.take(2, "segwit marker and flag")
        if flag != b"\x00\x01":
            raise TransactionDecodeError(f"bad segwit marker/flag {flag.hex()}")
        segwit = True
    inputs = [_parse_input(r, i) for i in range(r.count("input count", 41))]
    if segwit and not inputs:
        raise TransactionDecodeError("segwit transaction without inputs")
    outputs = [_parse_output(r, i) for i in range(r.count("output count", 9))]
    if segwit:
        for i, txin in enumerate(inputs):
            n = r.count(f"input {i} witness item count", 1)
            items = tuple(r.varbytes(f"input {i} witness item") for _ in range(n))
            inputs[i] = TxIn(txin.outpoint, txin.script_sig, txin.sequence, items)
        if not any(txin.witness for txin in inputs):
            raise TransactionDecodeError("segwit flag set but every witness is empty")
    locktime = r.uint(4, "locktime")
    if r.pos != len(r.data):
        raise TransactionDecodeError(f"{len(r.data) - r.pos} trailing bytes after the transaction")
    return Transaction(version, tuple(inputs), tuple(outputs), locktime)
