"""The JSON form of the rust-dlc test vectors, read into our message types.

Building each message from its JSON and comparing with the parsed hex checks
that every field lands where the spec puts it (not only that bytes round-trip).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from tentenone.bitcoin.ecdsa import der_to_compact
from tentenone.dlc.contract import (
    ContractDescriptor,
    ContractEvent,
    ContractInfo,
    DisjointContractInfo,
    EnumeratedContractDescriptor,
    EnumeratedOutcome,
    MultiOracleInfo,
    NumericOutcomeContractDescriptor,
    OracleInfo,
    OracleParams,
    SingleContractInfo,
    SingleOracleInfo,
)
from tentenone.dlc.messages import AcceptDlc, FundingInput, OfferDlc, SignDlc
from tentenone.dlc.oracle_messages import (
    DigitDecompositionEventDescriptor,
    EnumEventDescriptor,
    EventDescriptor,
    OracleAnnouncement,
    OracleEvent,
)
from tentenone.dlc.payout_curve import (
    FixedNumber,
    HyperbolaPiece,
    PayoutCurvePiece,
    PayoutFunction,
    PayoutPoint,
    PolynomialPiece,
    RoundingInterval,
    RoundingIntervals,
)

__all__ = ["accept_from_json", "offer_from_json", "sign_from_json"]

Json = dict[str, Any]


def _hex(value: str) -> bytes:
    return bytes.fromhex(value)


def _event(data: Json) -> OracleEvent:
    descriptor_json = data["eventDescriptor"]
    descriptor: EventDescriptor
    if "enumEvent" in descriptor_json:
        descriptor = EnumEventDescriptor(tuple(descriptor_json["enumEvent"]["outcomes"]))
    else:
        d = descriptor_json["digitDecompositionEvent"]
        descriptor = DigitDecompositionEventDescriptor(
            d["base"], d["isSigned"], d["unit"], d["precision"], d["nbDigits"]
        )
    return OracleEvent(
        tuple(_hex(n) for n in data["oracleNonces"]),
        data["eventMaturityEpoch"],
        descriptor,
        data["eventId"],
    )


def _announcement(data: Json) -> OracleAnnouncement:
    return OracleAnnouncement(
        _hex(data["announcementSignature"]),
        _hex(data["oraclePublicKey"]),
        _event(data["oracleEvent"]),
    )


def _oracle_info(data: Json) -> OracleInfo:
    if "single" in data:
        return SingleOracleInfo(_announcement(data["single"]["oracleAnnouncement"]))
    multi = data["multi"]
    params = multi["oracleParams"]
    return MultiOracleInfo(
        multi["threshold"],
        tuple(_announcement(a) for a in multi["oracleAnnouncements"]),
        None
        if params is None
        else OracleParams(params["maxErrorExp"], params["minFailExp"], params["maximizeCoverage"]),
    )


def _point(data: Json) -> PayoutPoint:
    return PayoutPoint(data["eventOutcome"], data["outcomePayout"], data["extraPrecision"])


def _piece(data: Json) -> PayoutCurvePiece:
    if "polynomialPayoutCurvePiece" in data:
        points = data["polynomialPayoutCurvePiece"]["payoutPoints"]
        return PolynomialPiece(tuple(_point(p) for p in points))
    h = data["hyperbolaPayoutCurvePiece"]
    numbers = [
        FixedNumber.from_value(Fraction(h[k]))
        for k in ("translateOutcome", "translatePayout", "a", "b", "c", "d")
    ]
    return HyperbolaPiece(h["usePositivePiece"], *numbers)


def _descriptor(data: Json) -> ContractDescriptor:
    if "enumeratedContractDescriptor" in data:
        payouts = data["enumeratedContractDescriptor"]["payouts"]
        return EnumeratedContractDescriptor(
            tuple(EnumeratedOutcome(p["outcome"], p["localPayout"]) for p in payouts)
        )
    numeric = data["numericOutcomeContractDescriptor"]
    function = numeric["payoutFunction"]
    pieces = function["payoutFunctionPieces"]
    endpoints = [_point(p["endPoint"]) for p in pieces] + [_point(function["lastEndpoint"])]
    intervals = numeric["roundingIntervals"]["intervals"]
    return NumericOutcomeContractDescriptor(
        numeric["numDigits"],
        PayoutFunction(tuple(endpoints), tuple(_piece(p["payoutCurvePiece"]) for p in pieces)),
        RoundingIntervals(
            tuple(RoundingInterval(i["beginInterval"], i["roundingMod"]) for i in intervals)
        ),
    )


def _contract_event(data: Json) -> ContractEvent:
    return ContractEvent(_descriptor(data["contractDescriptor"]), _oracle_info(data["oracleInfo"]))


def _contract_info(data: Json) -> ContractInfo:
    if "singleContractInfo" in data:
        single = data["singleContractInfo"]
        return SingleContractInfo(
            single["totalCollateral"], _contract_event(single["contractInfo"])
        )
    disjoint = data["disjointContractInfo"]
    return DisjointContractInfo(
        disjoint["totalCollateral"], tuple(_contract_event(c) for c in disjoint["contractInfos"])
    )


def _inputs(data: list[Json]) -> tuple[FundingInput, ...]:
    return tuple(
        FundingInput(
            i["inputSerialId"],
            _hex(i["prevTx"]),
            i["prevTxVout"],
            i["sequence"],
            i["maxWitnessLen"],
            _hex(i["redeemScript"]),
        )
        for i in data
    )


def _adaptor_sigs(data: Json) -> tuple[bytes, ...]:
    return tuple(_hex(s["signature"]) for s in data["ecdsaAdaptorSignatures"])


def offer_from_json(m: Json) -> OfferDlc:
    return OfferDlc(
        protocol_version=m["protocolVersion"],
        contract_flags=m["contractFlags"],
        chain_hash=_hex(m["chainHash"]),
        temporary_contract_id=_hex(m["temporaryContractId"]),
        contract_info=_contract_info(m["contractInfo"]),
        funding_pubkey=_hex(m["fundingPubkey"]),
        payout_spk=_hex(m["payoutSpk"]),
        payout_serial_id=m["payoutSerialId"],
        offer_collateral=m["offerCollateral"],
        funding_inputs=_inputs(m["fundingInputs"]),
        change_spk=_hex(m["changeSpk"]),
        change_serial_id=m["changeSerialId"],
        fund_output_serial_id=m["fundOutputSerialId"],
        feerate_per_vb=m["feeRatePerVb"],
        cet_locktime=m["cetLocktime"],
        refund_locktime=m["refundLocktime"],
    )


def accept_from_json(m: Json) -> AcceptDlc:
    if m["negotiationFields"] is not None:
        raise ValueError("negotiation fields in a vector are not expected")
    return AcceptDlc(
        protocol_version=m["protocolVersion"],
        temporary_contract_id=_hex(m["temporaryContractId"]),
        accept_collateral=m["acceptCollateral"],
        funding_pubkey=_hex(m["fundingPubkey"]),
        payout_spk=_hex(m["payoutSpk"]),
        payout_serial_id=m["payoutSerialId"],
        funding_inputs=_inputs(m["fundingInputs"]),
        change_spk=_hex(m["changeSpk"]),
        change_serial_id=m["changeSerialId"],
        cet_adaptor_signatures=_adaptor_sigs(m["cetAdaptorSignatures"]),
        refund_signature=der_to_compact(_hex(m["refundSignature"])),
    )


def sign_from_json(m: Json) -> SignDlc:
    stacks = m["fundingSignatures"]["fundingSignatures"]
    return SignDlc(
        protocol_version=m["protocolVersion"],
        contract_id=_hex(m["contractId"]),
        cet_adaptor_signatures=_adaptor_sigs(m["cetAdaptorSignatures"]),
        refund_signature=der_to_compact(_hex(m["refundSignature"])),
        funding_signatures=tuple(
            tuple(_hex(e["witness"]) for e in s["witnessElements"]) for s in stacks
        ),
    )
