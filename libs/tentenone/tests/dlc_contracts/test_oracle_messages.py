"""Oracle TLVs: announcement, event, descriptors, attestation layouts."""

from __future__ import annotations

from typing import Any

import pytest

from tentenone.dlc.errors import ContractError, DecodeError
from tentenone.dlc.oracle_messages import (
    DigitDecompositionEventDescriptor,
    EnumEventDescriptor,
    OracleAnnouncement,
    OracleAttestation,
    OracleEvent,
)
from tentenone.dlc.tlv import Writer
from tentenone.oracle.announcement import verify_announcement
from tentenone.oracle.attestation import attest, verify_attestation
from tentenone.oracle.hashing import OracleHashing, digit_outcomes


def test_announcement_round_trip_and_signature(flow: Any) -> None:
    announcement = flow.offer.contract_info.event.oracle_info.announcement
    raw = announcement.serialize()
    assert raw[:3] == bytes.fromhex("fdd824")  # type 55332 as a BigSize
    parsed = OracleAnnouncement.parse(raw)
    assert parsed == announcement
    event = parsed.oracle_event
    assert OracleEvent.parse(event.serialize()) == event
    assert verify_announcement(
        parsed.oracle_public_key,
        parsed.announcement_signature,
        event.value_bytes(),
        OracleHashing.SHA256,
    )


def _attestation(flow: Any, price: int) -> OracleAttestation:
    announcement = flow.offer.contract_info.event.oracle_info.announcement
    outcomes = digit_outcomes(price, 2, 20)
    signatures = attest(flow.oracle_secret, flow.nonce_secrets, outcomes, OracleHashing.SHA256)
    return OracleAttestation(
        announcement.oracle_event.event_id,
        announcement.oracle_public_key,
        tuple(signatures),
        tuple(outcomes),
    )


def test_attestation_spec_layout(flow: Any) -> None:
    attestation = _attestation(flow, 61_234)
    raw = attestation.serialize()
    parsed = OracleAttestation.parse(raw)
    assert parsed == attestation and not parsed.outcome_count_prefix
    # event id, key, u16 count, signatures, then the outcomes with no count
    w = Writer()
    w.string(attestation.event_id)
    w.raw(attestation.oracle_public_key)
    w.u16(20)
    for sig in attestation.signatures:
        w.raw(sig)
    for outcome in attestation.outcomes:
        w.string(outcome)
    assert parsed.value_bytes() == w.getvalue()
    nonces = flow.offer.contract_info.event.oracle_info.announcement.oracle_event.oracle_nonces
    assert verify_attestation(
        parsed.oracle_public_key, nonces, parsed.signatures, parsed.outcomes, OracleHashing.SHA256
    )


def test_attestation_rust_dlc_layout_is_accepted_and_kept(flow: Any) -> None:
    spec = _attestation(flow, 5)
    w = Writer()
    w.string(spec.event_id)
    w.raw(spec.oracle_public_key)
    w.u16(len(spec.signatures))
    for sig in spec.signatures:
        w.raw(sig)
    w.u16(len(spec.outcomes))  # rust-dlc's extra count
    for outcome in spec.outcomes:
        w.string(outcome)
    record = Writer()
    record.tlv(OracleAttestation.TLV_TYPE, w.getvalue())
    raw = record.getvalue()
    parsed = OracleAttestation.parse(raw)
    assert parsed.outcome_count_prefix and parsed.outcomes == spec.outcomes
    assert parsed.serialize() == raw


def test_attestation_with_missing_outcomes_is_refused(flow: Any) -> None:
    spec = _attestation(flow, 5)
    truncated = spec.serialize()[:-4]
    with pytest.raises(DecodeError):
        OracleAttestation.parse(truncated)
    with pytest.raises(ContractError):
        OracleAttestation("e", bytes(32), (bytes(64),), ()).serialize()


def test_event_nonce_count_must_match_descriptor() -> None:
    event = OracleEvent(
        (bytes(32), bytes([1]) * 32),
        0,
        DigitDecompositionEventDescriptor(2, False, "usd", 0, 3),
        "x",
    )
    with pytest.raises(ContractError, match="nonces"):
        event.check()
    signed = DigitDecompositionEventDescriptor(2, True, "usd", 0, 1)
    OracleEvent((bytes(32), bytes([1]) * 32), 0, signed, "x").check()  # sign nonce + 1 digit
    with pytest.raises(ContractError, match="unique"):
        EnumEventDescriptor(("a", "a")).check()


def test_digit_descriptor_base_is_a_u16() -> None:
    # the vectors write base 2 as 0002 (the text says bigsize): ADR 0031
    raw = DigitDecompositionEventDescriptor(2, False, "sats/sec", 0, 10).serialize()
    assert raw.hex() == "fdd80a120002" + "00" + "08" + b"sats/sec".hex() + "00000000" + "000a"
