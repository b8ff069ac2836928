from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tentenone.dlc.errors import DecodeError, EncodeError
from tentenone.dlc.tlv import Reader, TlvRecord, Writer, encode_bigsize, read_tlv_stream

SHARED = Path(__file__).resolve().parents[5] / "shared"


def _bolt1_bigsize_decoding_vectors() -> list[dict[str, object]]:
    text = (SHARED / "specs" / "bolts" / "01-messaging.md").read_text()
    section = text[text.index("### BigSize Decoding Tests") :]
    block = re.search(r"```json\n(.*?)```", section, re.S)
    assert block is not None
    vectors: list[dict[str, object]] = json.loads(block.group(1))
    return vectors


@pytest.mark.parametrize("vector", _bolt1_bigsize_decoding_vectors(), ids=lambda v: str(v["name"]))
def test_bigsize_bolt1_vectors(vector: dict[str, object]) -> None:
    raw = bytes.fromhex(str(vector["bytes"]))
    r = Reader(raw)
    if "exp_error" in vector:
        with pytest.raises(DecodeError):
            r.bigsize("value")
        return
    assert r.bigsize("value") == vector["value"]
    assert r.remaining == 0
    assert encode_bigsize(int(str(vector["value"]))) == raw


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_bigsize_round_trip(value: int) -> None:
    assert Reader(encode_bigsize(value)).bigsize("v") == value


def test_writer_refuses_values_that_do_not_fit() -> None:
    w = Writer()
    with pytest.raises(EncodeError):
        w.u16(70000, "nb")
    with pytest.raises(EncodeError):
        w.u64(-1, "amount")
    with pytest.raises(EncodeError):
        encode_bigsize(2**64)
    with pytest.raises(EncodeError):
        w.string("e\u0301", "outcome")  # decomposed, not NFC


def test_reader_errors_name_the_field() -> None:
    with pytest.raises(DecodeError) as info:
        Reader(b"\x00\x05ab").spk("payout_spk")
    assert info.value.details["field"] == "payout_spk"
    with pytest.raises(DecodeError, match="bool"):
        Reader(b"\x02").flag("is_signed")
    with pytest.raises(DecodeError, match="UTF-8"):
        Reader(b"\x02\xff\xfe").string("unit")


def test_count_refuses_collections_that_cannot_fit() -> None:
    # a count of 2^32 items with 3 bytes left must fail at once, not loop
    with pytest.raises(DecodeError, match="cannot fit"):
        Reader(b"\xfe\xff\xff\xff\xff" + b"abc").count("num_outcomes", 9)


def test_tlv_stream_rules() -> None:
    w = Writer()
    w.tlv(1, b"a")
    w.tlv(3, b"bc")
    assert read_tlv_stream(Reader(w.getvalue()), "tlvs") == (
        TlvRecord(1, b"a"),
        TlvRecord(3, b"bc"),
    )
    unordered = Writer()
    unordered.tlv(3, b"")
    unordered.tlv(1, b"")
    with pytest.raises(DecodeError, match="strictly increasing"):
        read_tlv_stream(Reader(unordered.getvalue()), "tlvs")
    even = Writer()
    even.tlv(4, b"")
    with pytest.raises(DecodeError, match="unknown even"):
        read_tlv_stream(Reader(even.getvalue()), "tlvs")
