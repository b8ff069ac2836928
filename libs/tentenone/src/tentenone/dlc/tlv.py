"""Wire primitives of dlcspecs Messaging.md and BOLT 1.

All integers are unsigned big-endian unless noted. ``BigSize`` is BOLT 1's
variable-length integer; collections in this spec version are prefixed by a
BigSize count, except inside the oracle TLVs (event descriptors, oracle event,
attestation) which keep a ``u16`` count for backward compatibility.

:class:`Reader` raises :class:`~tentenone.dlc.errors.DecodeError` naming the
field and offset for anything malformed; :class:`Writer` raises
:class:`~tentenone.dlc.errors.EncodeError` for a value that does not fit.
"""

from __future__ import annotations

import struct
import unicodedata
from dataclasses import dataclass
from typing import ClassVar, Self

from tentenone.dlc.errors import DecodeError, EncodeError

__all__ = [
    "Reader",
    "TlvRecord",
    "TlvStruct",
    "Writer",
    "encode_bigsize",
    "read_tlv_stream",
    "write_tlv_stream",
]

_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFF_FFFF
_U64_MAX = 0xFFFF_FFFF_FFFF_FFFF


def encode_bigsize(value: int) -> bytes:
    """BOLT 1 BigSize: the shortest of 1, 3, 5 or 9 bytes."""
    if value < 0 or value > _U64_MAX:
        raise EncodeError(f"bigsize out of range: {value}")
    if value < 0xFD:
        return bytes([value])
    if value <= _U16_MAX:
        return b"\xfd" + value.to_bytes(2, "big")
    if value <= _U32_MAX:
        return b"\xfe" + value.to_bytes(4, "big")
    return b"\xff" + value.to_bytes(8, "big")


@dataclass(frozen=True, slots=True)
class TlvRecord:
    """One record of a TLV stream, kept raw so that a round trip is byte exact."""

    type: int
    value: bytes


class Reader:
    """Reads fields from a byte string; every read names the field it is for."""

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self._data = data
        self._pos = start
        self._end = len(data) if end is None else end

    @property
    def offset(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    def _fail(self, field: str, why: str) -> DecodeError:
        return DecodeError(f"{field}: {why} at offset {self._pos}", field=field, offset=self._pos)

    def raw(self, n: int, field: str) -> bytes:
        if n > self.remaining:
            raise self._fail(field, f"needs {n} bytes, {self.remaining} left")
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def u8(self, field: str) -> int:
        return self.raw(1, field)[0]

    def u16(self, field: str) -> int:
        return int.from_bytes(self.raw(2, field), "big")

    def u32(self, field: str) -> int:
        return int.from_bytes(self.raw(4, field), "big")

    def u64(self, field: str) -> int:
        return int.from_bytes(self.raw(8, field), "big")

    def i32(self, field: str) -> int:
        value: int = struct.unpack(">i", self.raw(4, field))[0]
        return value

    def flag(self, field: str) -> bool:
        start = self._pos
        value = self.u8(field)
        if value > 1:
            self._pos = start
            raise self._fail(field, f"bool must be 0x00 or 0x01, got {value:#04x}")
        return value == 1

    def bigsize(self, field: str) -> int:
        start = self._pos
        first = self.u8(field)
        if first < 0xFD:
            return first
        width, minimum = {0xFD: (2, 0xFD), 0xFE: (4, 0x1_0000), 0xFF: (8, 0x1_0000_0000)}[first]
        value = int.from_bytes(self.raw(width, field), "big")
        if value < minimum:
            self._pos = start
            raise self._fail(field, "bigsize is not minimally encoded")
        return value

    def count(self, field: str, item_size: int = 1, *, u16: bool = False) -> int:
        """A collection count, refused early when the items cannot all fit."""
        start = self._pos
        n = self.u16(field) if u16 else self.bigsize(field)
        if n * item_size > self.remaining:
            self._pos = start
            raise self._fail(field, f"count {n} cannot fit in {self.remaining} bytes")
        return n

    def var_bytes(self, field: str) -> bytes:
        """BigSize length then that many bytes."""
        return self.raw(self.count(field), field)

    def string(self, field: str) -> str:
        """dlcspecs ``string``: BigSize length, UTF-8 bytes, NFC normalized."""
        raw = self.var_bytes(field)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self._fail(field, f"invalid UTF-8 ({exc.reason})") from None
        if not unicodedata.is_normalized("NFC", text):
            raise self._fail(field, "string is not NFC normalized")
        return text

    def spk(self, field: str) -> bytes:
        """dlcspecs ``spk``: u16 length then the script bytes."""
        return self.raw(self.u16(field), field)

    def sub(self, length: int, field: str) -> Reader:
        """A reader over the next ``length`` bytes, which this reader skips."""
        if length > self.remaining:
            raise self._fail(field, f"length {length} exceeds the {self.remaining} bytes left")
        sub = Reader(self._data, self._pos, self._pos + length)
        self._pos += length
        return sub

    def tlv(self, expected_type: int, field: str) -> Reader:
        """A TLV record of ``expected_type``; returns a reader over its value."""
        start = self._pos
        tlv_type = self.bigsize(field)
        if tlv_type != expected_type:
            self._pos = start
            raise self._fail(field, f"expected TLV type {expected_type}, got {tlv_type}")
        return self.sub(self.bigsize(field), field)

    def end(self, what: str) -> None:
        if self.remaining:
            raise self._fail(what, f"{self.remaining} unexpected trailing bytes")


class Writer:
    """Accumulates fields; :meth:`getvalue` returns the bytes."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def getvalue(self) -> bytes:
        return b"".join(self._parts)

    def raw(self, data: bytes, size: int | None = None, field: str = "bytes") -> None:
        if size is not None and len(data) != size:
            raise EncodeError(f"{field}: expected {size} bytes, got {len(data)}")
        self._parts.append(bytes(data))

    def _uint(self, value: int, width: int, field: str) -> None:
        if not 0 <= value < 1 << (8 * width):
            raise EncodeError(f"{field}: {value} does not fit in {width} bytes")
        self._parts.append(value.to_bytes(width, "big"))

    def u8(self, value: int, field: str = "u8") -> None:
        self._uint(value, 1, field)

    def u16(self, value: int, field: str = "u16") -> None:
        self._uint(value, 2, field)

    def u32(self, value: int, field: str = "u32") -> None:
        self._uint(value, 4, field)

    def u64(self, value: int, field: str = "u64") -> None:
        self._uint(value, 8, field)

    def i32(self, value: int, field: str = "i32") -> None:
        if not -(1 << 31) <= value < 1 << 31:
            raise EncodeError(f"{field}: {value} does not fit in an int32")
        self._parts.append(struct.pack(">i", value))

    def flag(self, value: bool) -> None:
        self._parts.append(b"\x01" if value else b"\x00")

    def bigsize(self, value: int) -> None:
        self._parts.append(encode_bigsize(value))

    def var_bytes(self, data: bytes) -> None:
        self.bigsize(len(data))
        self._parts.append(bytes(data))

    def string(self, text: str, field: str = "string") -> None:
        if not unicodedata.is_normalized("NFC", text):
            raise EncodeError(f"{field}: string is not NFC normalized")
        self.var_bytes(text.encode("utf-8"))

    def spk(self, script: bytes, field: str = "spk") -> None:
        self.u16(len(script), field)
        self._parts.append(bytes(script))

    def tlv(self, tlv_type: int, value: bytes) -> None:
        self.bigsize(tlv_type)
        self.var_bytes(value)


def read_tlv_stream(
    r: Reader, field: str, known_types: frozenset[int] = frozenset()
) -> tuple[TlvRecord, ...]:
    """The rest of ``r`` as a BOLT 1 TLV stream.

    BOLT 1: the receiving node "MUST fail to parse the tlv_stream" if types are
    not strictly increasing, and if "type is even" and unknown.
    """
    records: list[TlvRecord] = []
    while r.remaining:
        start = r.offset
        tlv_type = r.bigsize(field)
        value = r.var_bytes(field)
        if records and tlv_type <= records[-1].type:
            raise DecodeError(
                f"{field}: TLV types not strictly increasing at offset {start}", field=field
            )
        if tlv_type % 2 == 0 and tlv_type not in known_types:
            raise DecodeError(f"{field}: unknown even TLV type {tlv_type}", field=field)
        records.append(TlvRecord(tlv_type, value))
    return tuple(records)


def write_tlv_stream(w: Writer, records: tuple[TlvRecord, ...]) -> None:
    last = -1
    for record in records:
        if record.type <= last:
            raise EncodeError("TLV types must strictly increase")
        last = record.type
        w.tlv(record.type, record.value)


class TlvStruct:
    """A structure serialized as one TLV record (type, length, value).

    Subclasses set ``TLV_TYPE`` and implement ``write_value``/``read_value`` for
    the value bytes; ``serialize``/``parse`` handle the whole record.
    """

    __slots__ = ()
    TLV_TYPE: ClassVar[int]

    def write_value(self, w: Writer) -> None:
        raise NotImplementedError

    @classmethod
    def read_value(cls, r: Reader) -> Self:
        raise NotImplementedError

    def value_bytes(self) -> bytes:
        w = Writer()
        self.write_value(w)
        return w.getvalue()

    def write(self, w: Writer) -> None:
        w.tlv(self.TLV_TYPE, self.value_bytes())

    @classmethod
    def read(cls, r: Reader) -> Self:
        sub = r.tlv(cls.TLV_TYPE, cls.__name__)
        obj = cls.read_value(sub)
        sub.end(cls.__name__)
        return obj

    def serialize(self) -> bytes:
        w = Writer()
        self.write(w)
        return w.getvalue()

    @classmethod
    def parse(cls, data: bytes) -> Self:
        r = Reader(bytes(data))
        obj = cls.read(r)
        r.end(cls.__name__)
        return obj
