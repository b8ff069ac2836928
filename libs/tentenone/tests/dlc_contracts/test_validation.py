"""Every rule of Protocol.md that validation checks: a message breaking it is
refused with the error of that rule (its code names the rule), and the
untouched message passes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tentenone.bitcoin.script import p2pkh, p2wpkh
from tentenone.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from tentenone.dlc.contract import ContractEvent, SingleContractInfo
from tentenone.dlc.errors import ValidationError
from tentenone.dlc.messages import (
    AcceptDlc,
    DisjointNegotiationFields,
    FundingInput,
    OfferDlc,
    SignDlc,
    SingleNegotiationFields,
    parse_message,
)
from tentenone.dlc.payout_curve import RoundingInterval, RoundingIntervals
from tentenone.dlc.validation import (
    AdaptorSignatureCountMismatch,
    CetLocktimeNotBeforeRefund,
    CollateralMismatch,
    CollateralTooSmall,
    ContractIdMismatch,
    DuplicateChangeSerialId,
    DuplicateInputSerialId,
    DuplicatePayoutSerialId,
    DuplicateTemporaryContractId,
    FeeRateOutOfRange,
    FundOutputSerialIdReused,
    InsufficientFundingInputs,
    InvalidAdaptorSignature,
    InvalidAnnouncementSignature,
    InvalidAttestation,
    InvalidContractInfo,
    InvalidFundingInput,
    InvalidFundingPubkey,
    InvalidFundingSignature,
    InvalidNegotiationFields,
    InvalidRefundSignature,
    LocktimeTypeMismatch,
    NonSegwitFundingInput,
    NonStandardScriptPubkey,
    ProtocolVersionMismatch,
    TemporaryContractIdMismatch,
    UnknownChain,
    UnknownEvent,
    UnknownOracle,
    UnrequestedAttestation,
    UnsupportedProtocolVersion,
    ValidationPolicy,
    WitnessTooLong,
    validate_accept,
    validate_attestation,
    validate_offer,
    validate_sign,
)

VECTOR = (
    Path(__file__).resolve().parents[5]
    / "shared/vectors/dlcspecs/test_vectors/single_oracle_numerical_test.json"
)
_DATA = json.loads(VECTOR.read_text())
OFFER: OfferDlc = parse_message(bytes.fromhex(_DATA["offer_message"]["serialized"]))  # type: ignore[assignment]
ACCEPT: AcceptDlc = parse_message(bytes.fromhex(_DATA["accept_message"]["serialized"]))  # type: ignore[assignment]
SIGN: SignDlc = parse_message(bytes.fromhex(_DATA["sign_message"]["serialized"]))  # type: ignore[assignment]
POLICY = ValidationPolicy(chain_hashes=frozenset({OFFER.chain_hash}))


def _input(script_pubkey: bytes, value: int, serial: int = 77) -> FundingInput:
    tx = Transaction(2, (TxIn(OutPoint(b"\x42" * 32, 0)),), (TxOut(value, script_pubkey),), 0)
    return FundingInput(serial, tx.serialize(), 0, 0xFFFFFFFF, 107)


def _flip(data: bytes, at: int = 10) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def _offer_with_event(change: Callable[[ContractEvent], ContractEvent]) -> OfferDlc:
    info = OFFER.contract_info
    assert isinstance(info, SingleContractInfo)
    return replace(OFFER, contract_info=replace(info, event=change(info.event)))


def _bad_announcement_signature(event: ContractEvent) -> ContractEvent:
    info = event.oracle_info
    announcement = info.announcements[0]
    broken = replace(
        announcement, announcement_signature=_flip(announcement.announcement_signature)
    )
    return replace(event, oracle_info=replace(info, announcement=broken))


def _bad_payout_function(event: ContractEvent) -> ContractEvent:
    descriptor = event.descriptor
    function = descriptor.payout_function  # type: ignore[union-attr]
    endpoints = (function.endpoints[0], function.endpoints[2], function.endpoints[1])
    broken = replace(function, endpoints=endpoints)
    return replace(event, descriptor=replace(descriptor, payout_function=broken))  # type: ignore[arg-type]


P2WPKH_DUMMY = p2wpkh(bytes.fromhex("02" + "11" * 32))

OFFER_CASES: list[tuple[str, OfferDlc, ValidationPolicy, type[ValidationError]]] = [
    ("version", replace(OFFER, protocol_version=2), POLICY, UnsupportedProtocolVersion),
    ("chain", OFFER, ValidationPolicy(chain_hashes=frozenset({bytes(32)})), UnknownChain),
    ("payout spk", replace(OFFER, payout_spk=b"\x51"), POLICY, NonStandardScriptPubkey),
    ("change spk", replace(OFFER, change_spk=b"\x6a\x01\x00"), POLICY, NonStandardScriptPubkey),
    ("fee too low", replace(OFFER, feerate_per_vb=0), POLICY, FeeRateOutOfRange),
    ("fee too high", replace(OFFER, feerate_per_vb=10**6), POLICY, FeeRateOutOfRange),
    (
        "pubkey prefix",
        replace(OFFER, funding_pubkey=b"\x05" + bytes(32)),
        POLICY,
        InvalidFundingPubkey,
    ),
    (
        "pubkey off curve",
        replace(OFFER, funding_pubkey=b"\x02" + b"\xff" * 32),
        POLICY,
        InvalidFundingPubkey,
    ),
    ("collateral < 1000", replace(OFFER, offer_collateral=999), POLICY, CollateralTooSmall),
    (
        "collateral > total",
        replace(OFFER, offer_collateral=OFFER.total_collateral + 1),
        POLICY,
        CollateralMismatch,
    ),
    ("locktime types", replace(OFFER, cet_locktime=700_000), POLICY, LocktimeTypeMismatch),
    (
        "cet after refund",
        replace(OFFER, cet_locktime=OFFER.refund_locktime),
        POLICY,
        CetLocktimeNotBeforeRefund,
    ),
    (
        "duplicate input serial",
        replace(OFFER, funding_inputs=OFFER.funding_inputs * 2),
        POLICY,
        DuplicateInputSerialId,
    ),
    (
        "change serial = fund serial",
        replace(OFFER, change_serial_id=OFFER.fund_output_serial_id),
        POLICY,
        FundOutputSerialIdReused,
    ),
    (
        "prevtx garbage",
        replace(OFFER, funding_inputs=(replace(OFFER.funding_inputs[0], prevtx=b"\x00\x01"),)),
        POLICY,
        InvalidFundingInput,
    ),
    (
        "vout missing",
        replace(OFFER, funding_inputs=(replace(OFFER.funding_inputs[0], prevtx_vout=5),)),
        POLICY,
        InvalidFundingInput,
    ),
    (
        "non-segwit input",
        replace(OFFER, funding_inputs=(_input(p2pkh(bytes.fromhex("02" + "11" * 32)), 10**9),)),
        POLICY,
        NonSegwitFundingInput,
    ),
    (
        "inputs too small",
        replace(OFFER, funding_inputs=(_input(P2WPKH_DUMMY, OFFER.offer_collateral),)),
        POLICY,
        InsufficientFundingInputs,
    ),
    ("unknown oracle", OFFER, replace(POLICY, known_oracles=frozenset({bytes(32)})), UnknownOracle),
    (
        "unknown event",
        OFFER,
        replace(POLICY, known_events=frozenset({(bytes(32), "Test")})),
        UnknownEvent,
    ),
    (
        "announcement signature",
        _offer_with_event(_bad_announcement_signature),
        POLICY,
        InvalidAnnouncementSignature,
    ),
    ("payout function", _offer_with_event(_bad_payout_function), POLICY, InvalidContractInfo),
    ("too many CETs", OFFER, replace(POLICY, max_adaptor_signatures=5), InvalidContractInfo),
]


@pytest.mark.parametrize(
    ("offer", "policy", "error"), [c[1:] for c in OFFER_CASES], ids=[c[0] for c in OFFER_CASES]
)
def test_offer_rules(
    offer: OfferDlc, policy: ValidationPolicy, error: type[ValidationError]
) -> None:
    with pytest.raises(error) as info:
        validate_offer(offer, policy)
    assert info.value.code == error.code and info.value.code.startswith("dlc_")
    assert info.value.message


def test_duplicate_temporary_contract_id() -> None:
    with pytest.raises(DuplicateTemporaryContractId):
        validate_offer(OFFER, POLICY, known_contract_ids={OFFER.temporary_contract_id})


def test_the_untouched_vector_passes() -> None:
    validate_offer(OFFER, POLICY)
    validate_sign(validate_accept(OFFER, ACCEPT, POLICY), SIGN, POLICY)


_SIGS = ACCEPT.cet_adaptor_signatures
ACCEPT_CASES: list[tuple[str, AcceptDlc, type[ValidationError]]] = [
    ("temporary id", replace(ACCEPT, temporary_contract_id=bytes(32)), TemporaryContractIdMismatch),
    ("version", replace(ACCEPT, protocol_version=2), ProtocolVersionMismatch),
    (
        "collateral",
        replace(ACCEPT, accept_collateral=ACCEPT.accept_collateral - 1),
        CollateralMismatch,
    ),
    ("payout spk", replace(ACCEPT, payout_spk=b"\x00\x01\x02"), NonStandardScriptPubkey),
    ("change spk", replace(ACCEPT, change_spk=b""), NonStandardScriptPubkey),
    ("pubkey", replace(ACCEPT, funding_pubkey=b"\x03" + b"\xff" * 32), InvalidFundingPubkey),
    (
        "input serial reused",
        replace(
            ACCEPT,
            funding_inputs=(
                replace(
                    ACCEPT.funding_inputs[0],
                    input_serial_id=OFFER.funding_inputs[0].input_serial_id,
                ),
            ),
        ),
        DuplicateInputSerialId,
    ),
    (
        "change serial reused",
        replace(ACCEPT, change_serial_id=OFFER.change_serial_id),
        DuplicateChangeSerialId,
    ),
    (
        "change serial = fund serial",
        replace(ACCEPT, change_serial_id=OFFER.fund_output_serial_id),
        FundOutputSerialIdReused,
    ),
    (
        "payout serial reused",
        replace(ACCEPT, payout_serial_id=OFFER.payout_serial_id),
        DuplicatePayoutSerialId,
    ),
    (
        "non-segwit input",
        replace(ACCEPT, funding_inputs=(_input(p2pkh(bytes.fromhex("03" + "22" * 32)), 10**9),)),
        NonSegwitFundingInput,
    ),
    (
        "inputs too small",
        replace(ACCEPT, funding_inputs=(_input(P2WPKH_DUMMY, 10_000),)),
        InsufficientFundingInputs,
    ),
    (
        "negotiation for 2 events",
        replace(
            ACCEPT,
            negotiation_fields=DisjointNegotiationFields(
                (SingleNegotiationFields(RoundingIntervals()),) * 2
            ),
        ),
        InvalidNegotiationFields,
    ),
    (
        "negotiation intervals",
        replace(
            ACCEPT,
            negotiation_fields=SingleNegotiationFields(
                RoundingIntervals((RoundingInterval(5, 1), RoundingInterval(5, 2)))
            ),
        ),
        InvalidNegotiationFields,
    ),
    (
        "one signature missing",
        replace(ACCEPT, cet_adaptor_signatures=_SIGS[:-1]),
        AdaptorSignatureCountMismatch,
    ),
    (
        "signatures swapped",
        replace(ACCEPT, cet_adaptor_signatures=(_SIGS[1], _SIGS[0], *_SIGS[2:])),
        InvalidAdaptorSignature,
    ),
    (
        "signature malformed",
        replace(ACCEPT, cet_adaptor_signatures=(bytes(162), *_SIGS[1:])),
        InvalidAdaptorSignature,
    ),
    (
        "refund signature",
        replace(ACCEPT, refund_signature=_flip(ACCEPT.refund_signature, 40)),
        InvalidRefundSignature,
    ),
]


@pytest.mark.parametrize(
    ("accept", "error"), [c[1:] for c in ACCEPT_CASES], ids=[c[0] for c in ACCEPT_CASES]
)
def test_accept_rules(accept: AcceptDlc, error: type[ValidationError]) -> None:
    with pytest.raises(error) as info:
        validate_accept(OFFER, accept, POLICY)
    assert info.value.code == error.code


def test_invalid_adaptor_signature_names_its_index() -> None:
    sigs = list(_SIGS)
    sigs[7] = _flip(sigs[7], 100)
    with pytest.raises(InvalidAdaptorSignature) as info:
        validate_accept(OFFER, replace(ACCEPT, cet_adaptor_signatures=tuple(sigs)), POLICY)
    assert info.value.details["index"] == 7


_ACCEPTED = validate_accept(OFFER, ACCEPT, POLICY)
_WITNESS = SIGN.funding_signatures[0]
SIGN_CASES: list[tuple[str, SignDlc, type[ValidationError]]] = [
    ("version", replace(SIGN, protocol_version=3), ProtocolVersionMismatch),
    ("contract id", replace(SIGN, contract_id=_flip(SIGN.contract_id, 31)), ContractIdMismatch),
    (
        "refund signature",
        replace(SIGN, refund_signature=_flip(SIGN.refund_signature, 50)),
        InvalidRefundSignature,
    ),
    (
        "adaptor count",
        replace(SIGN, cet_adaptor_signatures=SIGN.cet_adaptor_signatures[1:]),
        AdaptorSignatureCountMismatch,
    ),
    (
        "adaptor signature",
        replace(
            SIGN,
            cet_adaptor_signatures=(
                *SIGN.cet_adaptor_signatures[:-1],
                _flip(SIGN.cet_adaptor_signatures[-1], 70),
            ),
        ),
        InvalidAdaptorSignature,
    ),
    (
        "accepter's adaptor signatures",
        replace(SIGN, cet_adaptor_signatures=ACCEPT.cet_adaptor_signatures),
        InvalidAdaptorSignature,
    ),
    ("witness missing", replace(SIGN, funding_signatures=()), InvalidFundingSignature),
    ("witness empty", replace(SIGN, funding_signatures=((),)), InvalidFundingSignature),
    (
        "witness signature",
        replace(SIGN, funding_signatures=((_flip(_WITNESS[0], 20), _WITNESS[1]),)),
        InvalidFundingSignature,
    ),
    (
        "witness too long",
        replace(SIGN, funding_signatures=((*_WITNESS, b"\x00" * 10),)),
        WitnessTooLong,
    ),
]


@pytest.mark.parametrize(
    ("sign", "error"), [c[1:] for c in SIGN_CASES], ids=[c[0] for c in SIGN_CASES]
)
def test_sign_rules(sign: SignDlc, error: type[ValidationError]) -> None:
    with pytest.raises(error) as info:
        validate_sign(_ACCEPTED, sign, POLICY)
    assert info.value.code == error.code


def test_every_rule_has_a_unique_code() -> None:
    from tentenone.dlc import validation

    classes = [getattr(validation, n) for n in validation.__all__]
    rules = [c for c in classes if isinstance(c, type) and issubclass(c, ValidationError)]
    codes = [c.code for c in rules]
    assert len(codes) == len(set(codes)) and len(codes) >= 25
    tested = {c[-1] for c in OFFER_CASES + ACCEPT_CASES + SIGN_CASES}  # type: ignore[operator]
    tested |= {DuplicateTemporaryContractId, UnrequestedAttestation, InvalidAttestation}
    assert set(rules) == tested, f"rules without a breaking test: {set(rules) - tested}"


def test_validation_changes_nothing(flow: Any) -> None:
    before = (flow.offer.serialize(), flow.accept.serialize(), flow.sign.serialize())
    with pytest.raises(InvalidRefundSignature):
        validate_accept(flow.offer, replace(flow.accept, refund_signature=bytes(64)), flow.policy)
    assert (flow.offer.serialize(), flow.accept.serialize(), flow.sign.serialize()) == before


def _attestation_case(flow: Any) -> tuple[Any, Any]:
    from tentenone.dlc.oracle_messages import OracleAttestation
    from tentenone.oracle.attestation import attest
    from tentenone.oracle.hashing import OracleHashing, digit_outcomes

    announcement = flow.offer.contract_info.event.oracle_info.announcement
    outcomes = digit_outcomes(42_424, 2, 20)
    sigs = attest(flow.oracle_secret, flow.nonce_secrets, outcomes, OracleHashing.SHA256)
    attestation = OracleAttestation(
        announcement.oracle_event.event_id,
        announcement.oracle_public_key,
        tuple(sigs),
        tuple(outcomes),
    )
    return attestation, announcement


def test_attestation_rules(flow: Any) -> None:
    attestation, announcement = _attestation_case(flow)
    hashing = flow.policy.hashing
    assert validate_attestation(attestation, [announcement], hashing) == announcement
    cases = [
        (replace(attestation, event_id="another event"), UnrequestedAttestation),
        (replace(attestation, oracle_public_key=bytes(32)), UnrequestedAttestation),
        (replace(attestation, outcomes=("1", *attestation.outcomes[1:])), InvalidAttestation),
        (replace(attestation, signatures=attestation.signatures[:-1]), InvalidAttestation),
        (
            replace(
                attestation,
                signatures=(_flip(attestation.signatures[0], 40), *attestation.signatures[1:]),
            ),
            InvalidAttestation,
        ),
    ]
    for broken, error in cases:
        with pytest.raises(error):
            validate_attestation(broken, [announcement], hashing)
