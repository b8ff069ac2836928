"""Every decoder on arbitrary or mutated bytes raises only typed errors."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tentenone.dlc.contract import read_contract_info
from tentenone.dlc.messages import AcceptDlc, OfferDlc, SignDlc, parse_message
from tentenone.dlc.oracle_messages import (
    DigitDecompositionEventDescriptor,
    EnumEventDescriptor,
    OracleAnnouncement,
    OracleAttestation,
    OracleEvent,
)
from tentenone.dlc.payout_curve import PayoutFunction, RoundingIntervals
from tentenone.dlc.tlv import Reader, read_tlv_stream
from tentenone.errors import TentenoneError


def _reader(fn: Callable[[Reader], object]) -> Callable[[bytes], object]:
    def parse(data: bytes) -> object:
        r = Reader(data)
        out = fn(r)
        r.end("value")
        return out

    return parse


DECODERS: dict[str, Callable[[bytes], object]] = {
    "message": parse_message,
    "offer": OfferDlc.parse,
    "accept": AcceptDlc.parse,
    "sign": SignDlc.parse,
    "announcement": OracleAnnouncement.parse,
    "attestation": OracleAttestation.parse,
    "event": OracleEvent.parse,
    "enum_descriptor": EnumEventDescriptor.parse,
    "digit_descriptor": DigitDecompositionEventDescriptor.parse,
    "contract_info": _reader(read_contract_info),
    "payout_function": _reader(PayoutFunction.read),
    "rounding_intervals": _reader(RoundingIntervals.read),
    "tlv_stream": _reader(lambda r: read_tlv_stream(r, "tlvs")),
}

# type prefixes that lead the decoders past their first field
PREFIXES = [b"", b"\xa7\x1a", b"\xa7\x1c", b"\xa7\x1e", b"\xfd\xd8\x24", b"\xfd\xd8\x68", b"\x01"]


def _only_typed_errors(decode: Callable[[bytes], object], data: bytes) -> None:
    with contextlib.suppress(TentenoneError):
        decode(data)


@pytest.mark.parametrize("name", sorted(DECODERS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=400))
def test_arbitrary_bytes(name: str, prefix: bytes, body: bytes) -> None:
    _only_typed_errors(DECODERS[name], prefix + body)


_RUNS = Path(__file__).resolve().parents[5] / "shared" / "vectors" / "dlcspecs" / "test_vectors"
_SAMPLES = [
    bytes.fromhex(json.loads(path.read_text())[key]["serialized"])
    for path in sorted(_RUNS.glob("*.json"))[:4]
    for key in ("offer_message", "accept_message", "sign_message")
]


@settings(max_examples=400, deadline=None)
@given(
    sample=st.sampled_from(_SAMPLES),
    position=st.floats(min_value=0, max_value=1, exclude_max=True),
    mutation=st.sampled_from(["flip", "truncate", "insert", "delete"]),
    byte=st.integers(min_value=0, max_value=255),
)
def test_mutated_vector_messages(sample: bytes, position: float, mutation: str, byte: int) -> None:
    i = int(position * len(sample))
    if mutation == "flip":
        data = sample[:i] + bytes([sample[i] ^ (byte or 1)]) + sample[i + 1 :]
    elif mutation == "truncate":
        data = sample[:i]
    elif mutation == "insert":
        data = sample[:i] + bytes([byte]) + sample[i:]
    else:
        data = sample[:i] + sample[i + 1 :]
    _only_typed_errors(parse_message, data)
