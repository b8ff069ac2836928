"""Fuzzing: every decoder of this area, fed arbitrary bytes, raises only typed errors."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tentenone.bitcoin import ecdsa
from tentenone.bitcoin.curve import base_mult, point_from_bytes, point_from_xonly, scalar_from_bytes
from tentenone.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut, parse_transaction
from tentenone.dlc import adaptor
from tentenone.errors import TentenoneError
from tentenone.oracle import schnorr

_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_PUB = base_mult(7).format()
_VALID_TX = Transaction(
    2,
    (TxIn(OutPoint(b"\x05" * 32, 1), b"\x01\x02", 7, (b"\x30" * 72, _PUB)),),
    (TxOut(1000, b"\x00\x14" + bytes(20)),),
    99,
).serialize()
_VALID_ADAPTOR = adaptor.encrypt(b"\x03" * 32, _PUB, b"\x04" * 32, aux=None).to_bytes()


@st.composite
def _mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    raw = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        if not raw:
            break
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        i = draw(st.integers(0, len(raw) - 1))
        if op == "flip":
            raw[i] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del raw[i:]
        else:
            raw[i:i] = draw(st.binary(min_size=1, max_size=4))
    return bytes(raw)


def _mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, and near-misses of a valid encoding (where bugs hide)."""
    return st.one_of(st.binary(max_size=400), _mutated(seed))


def _only_typed(fn: Callable[[bytes], object], raw: bytes) -> None:
    with contextlib.suppress(TentenoneError):
        fn(raw)


@_FUZZ
@given(raw=_mutations(_VALID_TX))
def test_transaction_decoder(raw: bytes) -> None:
    try:
        tx = parse_transaction(raw)
    except TentenoneError:
        return
    assert tx.serialize() == raw  # whatever parses re-serializes to the same bytes


@_FUZZ
@given(raw=_mutations(_VALID_ADAPTOR))
def test_adaptor_signature_decoder_and_verifier(raw: bytes) -> None:
    try:
        sig = adaptor.AdaptorSignature.from_bytes(raw)
    except TentenoneError:
        return
    assert sig.to_bytes() == raw
    _only_typed(lambda b: adaptor.verify(_PUB, _PUB, b"\x04" * 32, b), raw)
    _only_typed(lambda b: adaptor.decrypt(b, b"\x09" * 32), raw)
    _only_typed(lambda b: adaptor.recover(_PUB, b, b"\x01" * 64), raw)


@_FUZZ
@given(raw=_mutations(ecdsa.sign(b"\x02" * 32, b"\x03" * 32)))
def test_signature_decoders(raw: bytes) -> None:
    _only_typed(ecdsa.der_decode, raw)
    _only_typed(lambda b: ecdsa.verify(_PUB, b"\x03" * 32, b), raw)
    _only_typed(lambda b: ecdsa.verify_compact(_PUB, b"\x03" * 32, b), raw)
    _only_typed(lambda b: schnorr.verify(_PUB[1:], b"\x03" * 32, b), raw)


@_FUZZ
@given(raw=st.binary(max_size=70))
def test_key_decoders(raw: bytes) -> None:
    _only_typed(lambda b: point_from_bytes(b, "point"), raw)
    _only_typed(lambda b: point_from_xonly(b, "xonly"), raw)
    _only_typed(lambda b: scalar_from_bytes(b, "scalar"), raw)
    _only_typed(lambda b: schnorr.verify(b, b"\x03" * 32, b"\x00" * 64), raw)
    _only_typed(lambda b: adaptor.verify(b, _PUB, b"\x04" * 32, _VALID_ADAPTOR), raw)
