"""The oracle's signing against the DLC library's verification and the dlcspecs vectors."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tentenone.bitcoin.curve import xonly
from tentenone.dlc.oracle_messages import OracleAnnouncement, OracleAttestation
from tentenone.errors import InvalidInput
from tentenone.oracle.attestation import attestation_point, attestation_secret
from tentenone.oracle.hashing import OracleHashing, digit_outcomes
from tentenone.oracle.schnorr import signature_point
from tentenone_oracle.events import enum_descriptor, numeric_descriptor, numeric_outcome
from tentenone_oracle.keys import OracleKey
from tentenone_oracle.signer import NonceMismatch, OracleSigner, outcomes_for

VECTORS = Path(__file__).parents[3] / ".." / "shared" / "vectors" / "dlcspecs"
SECRET = bytes.fromhex("5376a94490ff9b07387511351fdf9fb56d0f704effaa9e55218ac82f712f8a26")
EXPIRY_EPOCH = 1764316800


def _signer(hashing: OracleHashing = OracleHashing.TAGGED, secret: bytes = SECRET) -> OracleSigner:
    return OracleSigner(OracleKey.from_secret(secret, "test"), hashing)


def _vectors() -> list[dict[str, object]]:
    path = (VECTORS / "dlc_schnorr_test.json").resolve()
    data: list[dict[str, object]] = json.loads(path.read_text())
    return data


@pytest.mark.parametrize("case", _vectors(), ids=lambda c: str(c["pubKey"])[:12])
def test_dlcspecs_schnorr_vectors_byte_for_byte(case: dict[str, object]) -> None:
    inputs = case["inputs"]
    assert isinstance(inputs, dict)
    signer = _signer(secret=bytes.fromhex(inputs["privKey"]))
    assert signer.public_key.hex() == case["pubKey"]
    msg = bytes.fromhex(inputs["msgHash"])
    signature = signer.sign_digest(bytes.fromhex(inputs["privNonce"]), msg)
    assert signature.hex() == case["signature"]
    assert signature[:32].hex() == case["pubNonce"]
    point = signature_point(signer.public_key, signature[:32], msg)
    assert point.format(compressed=True).hex() == case["sigPoint"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("hashing", list(OracleHashing))
def test_numeric_announcement_and_attestation_verify(hashing: OracleHashing) -> None:
    signer = _signer(hashing)
    announcement = signer.announce("btcusd1764316800", EXPIRY_EPOCH, numeric_descriptor())
    # Through the wire format and back, as a client receives it.
    announcement = OracleAnnouncement.parse(announcement.serialize())
    assert signer.verify_announcement(announcement)
    event = announcement.oracle_event
    assert len(event.oracle_nonces) == 20
    value = numeric_outcome(Decimal("91210.49"), numeric_descriptor())
    assert value == 91210
    attestation = signer.attest(event, outcomes_for(event.event_descriptor, value))
    attestation = OracleAttestation.parse(attestation.serialize())
    assert signer.verify_attestation(event, attestation)
    assert list(attestation.outcomes) == digit_outcomes(91210, 2, 20)
    assert int("".join(attestation.outcomes), 2) == 91210
    # The adaptor point a CET would use is s*G of the attestation's secret.
    point = attestation_point(signer.public_key, event.oracle_nonces, attestation.outcomes, hashing)
    secret = attestation_secret(attestation.signatures)
    assert xonly(point) == OracleKey.from_secret(secret, "s").public_key


def test_the_other_hashing_does_not_verify() -> None:
    tagged = _signer(OracleHashing.TAGGED)
    announcement = tagged.announce("btcusd1764316800", EXPIRY_EPOCH, numeric_descriptor())
    attestation = tagged.attest(announcement.oracle_event, ["0"] * 19 + ["1"])
    plain = _signer(OracleHashing.SHA256)
    assert not plain.verify_announcement(announcement)
    assert not plain.verify_attestation(announcement.oracle_event, attestation)


def test_enum_event() -> None:
    signer = _signer()
    descriptor = enum_descriptor(["sunny", "cloudy", "rainy"])
    announcement = signer.announce("weather-2026-01-01", EXPIRY_EPOCH, descriptor)
    assert len(announcement.oracle_event.oracle_nonces) == 1
    attestation = signer.attest(announcement.oracle_event, outcomes_for(descriptor, "rainy"))
    assert signer.verify_attestation(announcement.oracle_event, attestation)
    with pytest.raises(InvalidInput, match="not one of the event's outcomes"):
        outcomes_for(descriptor, "snowy")


def test_announcing_twice_gives_the_same_nonces() -> None:
    a = _signer().announce("btcusd1764316800", EXPIRY_EPOCH, numeric_descriptor())
    b = _signer().announce("btcusd1764316800", EXPIRY_EPOCH, numeric_descriptor())
    assert a.oracle_event == b.oracle_event


def test_refuses_foreign_nonces() -> None:
    other = _signer(secret=bytes(31) + b"\x07")
    announcement = other.announce("btcusd1764316800", EXPIRY_EPOCH, numeric_descriptor())
    with pytest.raises(NonceMismatch, match="not announced with this key's nonces"):
        _signer().attest(announcement.oracle_event, ["0"] * 20)
    with pytest.raises(InvalidInput, match="19 outcomes for 20"):
        _signer().attest(announcement.oracle_event, ["0"] * 19)


@settings(max_examples=30, deadline=None)
@given(st.decimals(-1000, 3_000_000, places=4, allow_nan=False, allow_infinity=False))
def test_outcome_rounds_and_clamps(price: Decimal) -> None:
    descriptor = numeric_descriptor()
    value = numeric_outcome(price, descriptor)
    assert 0 <= value <= 2**20 - 1
    if 0 <= price <= 2**20 - 1.5:
        assert abs(Decimal(value) - price) <= Decimal("0.5")
    if price >= 2**20:
        assert value == 2**20 - 1


def test_half_up_rounding() -> None:
    descriptor = numeric_descriptor()
    assert numeric_outcome(Decimal("100.5"), descriptor) == 101
    assert numeric_outcome(Decimal("100.49"), descriptor) == 100
    assert numeric_outcome(Decimal("-3"), descriptor) == 0
    with pytest.raises(InvalidInput, match="finite"):
        numeric_outcome(Decimal("NaN"), descriptor)
