"""BIP-340 oracle signatures, hashing settings, announcements, attestations and points."""

from __future__ import annotations

import hashlib

import pytest
from coincurve import PublicKeyXOnly
from hypothesis import given, settings
from hypothesis import strategies as st

from tentenone.bitcoin.curve import base_mult
from tentenone.bitcoin.errors import InvalidPoint, InvalidScalar, InvalidSignatureEncoding
from tentenone.bitcoin.hashes import tagged_hash
from tentenone.errors import InvalidInput
from tentenone.oracle import schnorr
from tentenone.oracle.announcement import sign_announcement, verify_announcement
from tentenone.oracle.attestation import (
    DigitPointTable,
    adaptor_point,
    attest,
    attestation_point,
    attestation_secret,
    verify_attestation,
)
from tentenone.oracle.hashing import OracleHashing, digit_outcomes, outcome_message

from ._keys import digests, scalars

hashings = st.sampled_from(list(OracleHashing))


@settings(max_examples=40, deadline=None)
@given(key=scalars, nonce=scalars, msg=digests)
def test_sign_with_nonce_is_bip340(key: bytes, nonce: bytes, msg: bytes) -> None:
    sig = schnorr.sign_with_nonce(key, nonce, msg)
    pub = schnorr.public_key(key)
    assert sig[:32] == schnorr.nonce_point(nonce)
    assert schnorr.verify(pub, msg, sig)
    assert PublicKeyXOnly(pub).verify(sig, msg)  # libsecp256k1's own verifier agrees
    # s*G equals the signature point computed from public values only.
    s_point = base_mult(int.from_bytes(sig[32:], "big"))
    assert schnorr.signature_point(pub, sig[:32], msg) == s_point
    assert not schnorr.verify(pub, bytes([msg[0] ^ 1]) + msg[1:], sig)


@settings(max_examples=20, deadline=None)
@given(key=scalars, msg=digests)
def test_sign_with_aux_randomness(key: bytes, msg: bytes) -> None:
    pub = schnorr.public_key(key)
    first, second = schnorr.sign(key, msg), schnorr.sign(key, msg)
    assert schnorr.verify(pub, msg, first) and schnorr.verify(pub, msg, second)
    assert first != second  # fresh auxiliary randomness each time
    assert schnorr.sign(key, msg, aux=b"\x01" * 32) == schnorr.sign(key, msg, aux=b"\x01" * 32)


def test_hashing_settings() -> None:
    assert outcome_message("1", OracleHashing.SHA256) == hashlib.sha256(b"1").digest()
    assert outcome_message("1", OracleHashing.TAGGED) == tagged_hash(
        "DLC/oracle/attestation/v0", b"1"
    )
    # NFC: the composed and decomposed forms are one outcome.
    for hashing in OracleHashing:
        assert outcome_message("\u00c5", hashing) == outcome_message("A\u030a", hashing)
    assert digit_outcomes(5, 2, 4) == ["0", "1", "0", "1"]
    assert digit_outcomes(255, 16, 2) == ["15", "15"]
    assert digit_outcomes(10**9, 2, 4) == ["1", "1", "1", "1"]  # clamped to the maximum


@settings(max_examples=10, deadline=None)
@given(key=scalars, hashing=hashings, event=st.binary(max_size=200))
def test_announcement_round_trip(key: bytes, hashing: OracleHashing, event: bytes) -> None:
    pub = schnorr.public_key(key)
    sig = sign_announcement(key, event, hashing)
    assert verify_announcement(pub, sig, event, hashing)
    other = OracleHashing.TAGGED if hashing is OracleHashing.SHA256 else OracleHashing.SHA256
    assert not verify_announcement(pub, sig, event, other)
    assert not verify_announcement(pub, sig, event + b"\x00", hashing)


@settings(max_examples=10, deadline=None)
@given(
    key=scalars,
    nonces=st.lists(scalars, min_size=20, max_size=20, unique=True),
    value=st.integers(0, 2**20 - 1),
    prefix=st.integers(1, 20),
    hashing=hashings,
)
def test_attestation_point_is_s_times_g(
    key: bytes, nonces: list[bytes], value: int, prefix: int, hashing: OracleHashing
) -> None:
    pub = schnorr.public_key(key)
    public_nonces = [schnorr.nonce_point(k) for k in nonces]
    outcomes = digit_outcomes(value, 2, 20)
    sigs = attest(key, nonces, outcomes, hashing)
    assert verify_attestation(pub, public_nonces, sigs, outcomes, hashing)
    # The adaptor point of a digit prefix is s*G of the prefix's signatures summed.
    secret = attestation_secret(sigs[:prefix])
    expected = base_mult(int.from_bytes(secret, "big"))
    assert attestation_point(pub, public_nonces, outcomes[:prefix], hashing) == expected
    table = DigitPointTable(pub, public_nonces, hashing)
    digits = [int(d) for d in outcomes[:prefix]]
    assert table.prefix_point(digits) == expected
    assert adaptor_point([(table, digits)]) == expected
    # The cache answers the longer prefix the same way as a fresh computation.
    assert table.prefix_point([int(d) for d in outcomes]) == base_mult(
        int.from_bytes(attestation_secret(sigs), "big")
    )


def test_attestation_rejects_other_nonce_or_outcome() -> None:
    key, nonces = b"\x01" * 32, [b"\x02" * 32, b"\x03" * 32]
    pub = schnorr.public_key(key)
    public_nonces = [schnorr.nonce_point(k) for k in nonces]
    sigs = attest(key, nonces, ["1", "0"], OracleHashing.SHA256)
    assert not verify_attestation(pub, public_nonces, sigs, ["1", "1"], OracleHashing.SHA256)
    swapped = [public_nonces[1], public_nonces[0]]
    assert not verify_attestation(pub, swapped, sigs, ["1", "0"], OracleHashing.SHA256)
    assert not verify_attestation(pub, public_nonces, sigs, ["1", "0"], OracleHashing.TAGGED)


def test_bad_input_is_typed() -> None:
    key = b"\x01" * 32
    pub = schnorr.public_key(key)
    with pytest.raises(InvalidScalar, match="nonce secret: scalar is zero"):
        schnorr.sign_with_nonce(key, bytes(32), b"\x00" * 32)
    with pytest.raises(InvalidInput, match="32-byte message"):
        schnorr.sign(key, b"short")
    with pytest.raises(InvalidSignatureEncoding, match="expected 64 bytes"):
        schnorr.verify(pub, b"\x00" * 32, b"\x00" * 63)
    with pytest.raises(InvalidPoint, match="public key: x is not"):
        schnorr.verify(b"\x00" * 32, b"\x00" * 32, b"\x00" * 64)
    with pytest.raises(InvalidPoint, match="oracle nonce: expected a 32-byte"):
        schnorr.signature_point(pub, b"\x02" * 33, b"\x00" * 32)
    with pytest.raises(InvalidInput, match="3 outcomes but only 2 nonces"):
        attestation_point(pub, [pub, pub], ["0", "1", "0"], OracleHashing.SHA256)
    table = DigitPointTable(pub, [schnorr.nonce_point(b"\x05" * 32)] * 2, OracleHashing.SHA256)
    with pytest.raises(InvalidInput, match=r"digit 2 outside 0\.\.1"):
        table.prefix_point([2])
    with pytest.raises(InvalidInput, match="3 digits but the event has 2"):
        table.prefix_point([0, 1, 0])
