"""Validation of a counterparty's offer_dlc, accept_dlc and sign_dlc (Protocol.md).

Each rule of the spec has its own :class:`~tentenone.dlc.errors.ValidationError`
subclass whose ``code`` names it, raised with a message saying what was
wrong. Nothing here has side effects: the functions take the messages and a
:class:`ValidationPolicy` (what this node accepts) and return what they
computed on the way (the CET plan, the transactions), so the caller signs
exactly what it checked.

- :func:`validate_offer`: the accepter checks an offer.
- :func:`validate_accept`: the offerer checks the accept, including every
  adaptor signature and the refund signature.
- :func:`validate_sign`: the accepter checks the sign message: contract id,
  adaptor and refund signatures, funding witnesses.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from tentenone.bitcoin import ecdsa
from tentenone.bitcoin.curve import Point, point_from_bytes
from tentenone.bitcoin.script import is_standard_script_pubkey
from tentenone.bitcoin.tx import Transaction, encode_varint
from tentenone.dlc import adaptor
from tentenone.dlc.adaptor_points import OracleHashingPolicy, adaptor_points
from tentenone.dlc.cets import CetPlan, plan_cets
from tentenone.dlc.contract import ContractInfo
from tentenone.dlc.errors import ValidationError
from tentenone.dlc.messages import (
    AcceptDlc,
    DisjointNegotiationFields,
    FundingInput,
    NegotiationFields,
    OfferDlc,
    SignDlc,
)
from tentenone.dlc.oracle_messages import OracleAnnouncement, OracleAttestation
from tentenone.dlc.payout_curve import RoundingIntervals
from tentenone.dlc.signing import (
    CetLayout,
    Signer,
    accept_party,
    cet_digests,
    contract_transactions,
    offer_party,
    signed_cets,
    to_tx_inputs,
)
from tentenone.dlc.transactions import (
    DlcTransactions,
    PartyParams,
    build_cets,
    change_value,
    contract_id,
    funding_spend_sighash,
    is_segwit_input,
    verify_p2wpkh_witness,
)
from tentenone.errors import TentenoneError
from tentenone.oracle.announcement import verify_announcement
from tentenone.oracle.attestation import verify_attestation

__all__ = [
    "AdaptorSignatureCountMismatch",
    "CetLocktimeNotBeforeRefund",
    "CheckedAccept",
    "CheckedOffer",
    "CheckedSign",
    "CollateralMismatch",
    "CollateralTooSmall",
    "ContractIdMismatch",
    "DuplicateChangeSerialId",
    "DuplicateInputSerialId",
    "DuplicatePayoutSerialId",
    "DuplicateTemporaryContractId",
    "FeeRateOutOfRange",
    "FundOutputSerialIdReused",
    "InsufficientFundingInputs",
    "InvalidAdaptorSignature",
    "InvalidAnnouncementSignature",
    "InvalidAttestation",
    "InvalidContractInfo",
    "InvalidFundingInput",
    "InvalidFundingPubkey",
    "InvalidFundingSignature",
    "InvalidNegotiationFields",
    "InvalidRefundSignature",
    "LocktimeTypeMismatch",
    "NonSegwitFundingInput",
    "NonStandardScriptPubkey",
    "ProtocolVersionMismatch",
    "TemporaryContractIdMismatch",
    "UnknownChain",
    "UnknownEvent",
    "UnknownOracle",
    "UnrequestedAttestation",
    "UnsupportedProtocolVersion",
    "ValidationPolicy",
    "WitnessTooLong",
    "validate_accept",
    "validate_attestation",
    "validate_offer",
    "validate_sign",
]

MIN_OFFER_COLLATERAL = 1000
LOCKTIME_THRESHOLD = 500_000_000


# --- one error per rule -----------------------------------------------------


class UnsupportedProtocolVersion(ValidationError):
    code = "dlc_unsupported_protocol_version"


class ProtocolVersionMismatch(ValidationError):
    code = "dlc_protocol_version_mismatch"


class UnknownChain(ValidationError):
    code = "dlc_unknown_chain"


class DuplicateTemporaryContractId(ValidationError):
    code = "dlc_duplicate_temporary_contract_id"


class TemporaryContractIdMismatch(ValidationError):
    code = "dlc_temporary_contract_id_mismatch"


class NonStandardScriptPubkey(ValidationError):
    code = "dlc_nonstandard_script_pubkey"


class FeeRateOutOfRange(ValidationError):
    code = "dlc_fee_rate_out_of_range"


class InvalidFundingPubkey(ValidationError):
    code = "dlc_invalid_funding_pubkey"


class InvalidFundingInput(ValidationError):
    code = "dlc_invalid_funding_input"


class NonSegwitFundingInput(ValidationError):
    code = "dlc_non_segwit_funding_input"


class InsufficientFundingInputs(ValidationError):
    code = "dlc_insufficient_funding_inputs"


class DuplicateInputSerialId(ValidationError):
    code = "dlc_duplicate_input_serial_id"


class DuplicateChangeSerialId(ValidationError):
    code = "dlc_duplicate_change_serial_id"


class FundOutputSerialIdReused(ValidationError):
    code = "dlc_change_serial_id_equals_fund_output_serial_id"


class DuplicatePayoutSerialId(ValidationError):
    code = "dlc_duplicate_payout_serial_id"


class CollateralTooSmall(ValidationError):
    code = "dlc_offer_collateral_too_small"


class CollateralMismatch(ValidationError):
    code = "dlc_collateral_mismatch"


class LocktimeTypeMismatch(ValidationError):
    code = "dlc_locktime_type_mismatch"


class CetLocktimeNotBeforeRefund(ValidationError):
    code = "dlc_cet_locktime_not_before_refund_locktime"


class InvalidContractInfo(ValidationError):
    code = "dlc_invalid_contract_info"


class UnknownOracle(ValidationError):
    code = "dlc_unknown_oracle"


class InvalidAnnouncementSignature(ValidationError):
    code = "dlc_invalid_announcement_signature"


class UnknownEvent(ValidationError):
    code = "dlc_unknown_event"


class UnrequestedAttestation(ValidationError):
    code = "dlc_unrequested_attestation"


class InvalidAttestation(ValidationError):
    code = "dlc_invalid_attestation"


class InvalidNegotiationFields(ValidationError):
    code = "dlc_invalid_negotiation_fields"


class AdaptorSignatureCountMismatch(ValidationError):
    code = "dlc_adaptor_signature_count_mismatch"


class InvalidAdaptorSignature(ValidationError):
    code = "dlc_invalid_adaptor_signature"


class InvalidRefundSignature(ValidationError):
    code = "dlc_invalid_refund_signature"


class ContractIdMismatch(ValidationError):
    code = "dlc_contract_id_mismatch"


class InvalidFundingSignature(ValidationError):
    code = "dlc_invalid_funding_signature"


class WitnessTooLong(ValidationError):
    code = "dlc_witness_exceeds_max_witness_len"


# --- policy and results -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """What this node accepts. ``known_oracles`` None accepts any oracle key."""

    chain_hashes: frozenset[bytes]
    protocol_versions: frozenset[int] = frozenset({1})
    min_fee_rate: int = 1
    max_fee_rate: int = 1_000
    known_oracles: frozenset[bytes] | None = None
    #: (oracle key, event id) pairs this node knows; None accepts any event
    known_events: frozenset[tuple[bytes, str]] | None = None
    hashing: OracleHashingPolicy = field(default_factory=OracleHashingPolicy)
    max_adaptor_signatures: int = 200_000
    layout: CetLayout = CetLayout.SPEC


@dataclass(frozen=True, slots=True)
class CheckedOffer:
    offer: OfferDlc
    plan: CetPlan


@dataclass(frozen=True, slots=True)
class CheckedAccept:
    offer: OfferDlc
    accept: AcceptDlc
    plan: CetPlan
    transactions: DlcTransactions


@dataclass(frozen=True, slots=True)
class CheckedSign:
    """``funding_transaction`` carries the offerer's witnesses; the accepter adds
    its own and broadcasts it."""

    accepted: CheckedAccept
    sign: SignDlc
    funding_transaction: Transaction


# --- offer --------------------------------------------------------------------


def validate_offer(
    offer: OfferDlc, policy: ValidationPolicy, *, known_contract_ids: Collection[bytes] = ()
) -> CheckedOffer:
    """The accepter's checks of an offer_dlc (Protocol.md "The receiving node MUST
    reject the contract if ..."), in the order: cheap fields, funding, contract."""
    if offer.protocol_version not in policy.protocol_versions:
        # "If the receiving node does not support the requested version, it should
        # ignore the message."
        raise UnsupportedProtocolVersion(
            f"protocol version {offer.protocol_version} is not supported"
        )
    if offer.chain_hash not in policy.chain_hashes:
        raise UnknownChain(f"chain {offer.chain_hash.hex()} is unknown to this node")
    if offer.temporary_contract_id in known_contract_ids:
        raise DuplicateTemporaryContractId(
            "the temporary_contract_id is not unique from any other contract ID with this peer"
        )
    _check_standard(offer.payout_spk, "payout_spk")
    _check_standard(offer.change_spk, "change_spk")
    _check_fee_rate(offer.feerate_per_vb, policy)
    _check_pubkey(offer.funding_pubkey, "offer funding_pubkey")
    if offer.offer_collateral < MIN_OFFER_COLLATERAL:
        # sender MUST "set offer_collateral_satoshis to a value greater than or equal to 1000"
        raise CollateralTooSmall(
            f"offer_collateral_satoshis {offer.offer_collateral} is below {MIN_OFFER_COLLATERAL}"
        )
    if offer.offer_collateral > offer.total_collateral:
        raise CollateralMismatch(
            f"offer collateral {offer.offer_collateral} exceeds the total collateral "
            f"{offer.total_collateral}"
        )
    _check_locktimes(offer.cet_locktime, offer.refund_locktime)
    _check_unique_serial_ids(offer.funding_inputs)
    if offer.change_serial_id == offer.fund_output_serial_id:
        # "The fund_output_serial_id and change_serial_id are not set to different value"
        raise FundOutputSerialIdReused("change_serial_id equals fund_output_serial_id")
    _check_funding(_offer_party(offer), offer.feerate_per_vb, "offerer")
    _check_oracles(offer.contract_info, policy)
    return CheckedOffer(offer, _plan(offer.contract_info, None, policy))


def _offer_party(offer: OfferDlc) -> PartyParams:
    _check_inputs(offer.funding_inputs, "offerer")
    return offer_party(offer)


def _check_standard(spk: bytes, what: str) -> None:
    """MUST reject if "payout_spk or change_spk are not a standard script pubkey"."""
    if not is_standard_script_pubkey(spk):
        raise NonStandardScriptPubkey(f"{what} {spk.hex()} is not a standard script pubkey")


def _check_fee_rate(rate: int, policy: ValidationPolicy) -> None:
    """MUST reject if "it considers feerate_per_vb too small for timely processing
    or unreasonably large"."""
    if not policy.min_fee_rate <= rate <= policy.max_fee_rate:
        raise FeeRateOutOfRange(
            f"feerate_per_vb {rate} is outside {policy.min_fee_rate}..{policy.max_fee_rate}"
        )


def _check_pubkey(pubkey: bytes, what: str) -> None:
    """MUST reject if "funding_pubkey is not a valid secp256k1 pubkey in compressed format"."""
    try:
        point_from_bytes(pubkey, what)
    except TentenoneError as exc:
        raise InvalidFundingPubkey(f"{what}: {exc.message}") from None


def _check_locktimes(cet: int, refund: int) -> None:
    """Sender MUST "set cet_locktime and refund_locktime to either both be UNIX
    timestamps, or both be block heights" and "cet_locktime to be less than
    refund_locktime"."""
    if (cet < LOCKTIME_THRESHOLD) != (refund < LOCKTIME_THRESHOLD):
        raise LocktimeTypeMismatch(
            f"cet_locktime {cet} and refund_locktime {refund} are not both heights "
            "or both timestamps"
        )
    if cet >= refund:
        raise CetLocktimeNotBeforeRefund(
            f"cet_locktime {cet} is not less than refund_locktime {refund}"
        )


def _check_unique_serial_ids(inputs: Sequence[FundingInput]) -> None:
    """MUST reject if "Any input_serial_id is duplicated"."""
    ids = [i.input_serial_id for i in inputs]
    if len(set(ids)) != len(ids):
        raise DuplicateInputSerialId("an input_serial_id is used twice")


def _check_inputs(inputs: Sequence[FundingInput], who: str) -> None:
    """MUST reject if "Any input in funding_inputs is not a BIP141 (Segregated
    Witness) input"; the previous transaction must hold the spent output."""
    try:
        parsed = to_tx_inputs(inputs)
    except TentenoneError as exc:
        raise InvalidFundingInput(f"{who} funding input: {exc.message}") from None
    for item, message in zip(parsed, inputs, strict=True):
        if not is_segwit_input(item):
            raise NonSegwitFundingInput(
                f"{who} funding input {message.input_serial_id} is not a segwit input"
            )


def _check_funding(party: PartyParams, fee_rate: int, who: str) -> None:
    """MUST reject if "funding_inputs do not contribute at least
    total_collateral_satoshis plus full fee payment"."""
    try:
        change_value(party, fee_rate)
    except TentenoneError as exc:
        raise InsufficientFundingInputs(f"{who}: {exc.message}") from None


def _check_oracles(info: ContractInfo, policy: ValidationPolicy) -> None:
    """MUST reject if "the contract_info refers to an oracle unknown or
    inaccessible to the receiver"; Oracle-Validation.md: an announcement whose
    signature does not verify makes the offer invalid."""
    for event in info.events:
        for announcement in event.oracle_info.announcements:
            key = announcement.oracle_public_key
            if policy.known_oracles is not None and key not in policy.known_oracles:
                raise UnknownOracle(f"oracle {key.hex()} is unknown to this node")
            event_id = announcement.oracle_event.event_id
            if policy.known_events is not None and (key, event_id) not in policy.known_events:
                # MUST reject if "the contract_info refers to events unknown to the receiver"
                raise UnknownEvent(f"event {event_id!r} of oracle {key.hex()} is unknown")
            try:
                ok = verify_announcement(
                    key,
                    announcement.announcement_signature,
                    announcement.oracle_event.value_bytes(),
                    policy.hashing.for_key(key),
                )
            except TentenoneError:
                ok = False
            if not ok:
                raise InvalidAnnouncementSignature(
                    f"announcement of event {announcement.oracle_event.event_id!r} by oracle "
                    f"{key.hex()} has an invalid signature"
                )


def _plan(
    info: ContractInfo,
    negotiated: tuple[RoundingIntervals | None, ...] | None,
    policy: ValidationPolicy,
) -> CetPlan:
    """MUST reject if "invalid contract descriptor(s) are used within contract_info"."""
    try:
        return plan_cets(info, negotiated, max_entries=policy.max_adaptor_signatures)
    except TentenoneError as exc:
        raise InvalidContractInfo(f"contract_info is not valid: {exc.message}") from None


# --- accept -------------------------------------------------------------------


def validate_accept(
    offer: OfferDlc,
    accept: AcceptDlc,
    policy: ValidationPolicy,
    *,
    executor: Executor | None = None,
) -> CheckedAccept:
    """The offerer's checks of an accept_dlc answering ``offer`` (its own offer).

    An ``executor`` (e.g. a ProcessPoolExecutor) spreads the adaptor signature
    verification over its workers.
    """
    if accept.temporary_contract_id != offer.temporary_contract_id:
        # "The temporary_contract_id MUST be the same as the temporary_contract_id
        # in the offer_contract message."
        raise TemporaryContractIdMismatch("accept_dlc answers another temporary_contract_id")
    if accept.protocol_version != offer.protocol_version:
        # sender MUST "set protocol_version to the same value as ... offer_dlc"
        raise ProtocolVersionMismatch(
            f"protocol_version {accept.protocol_version} differs from the offer's "
            f"{offer.protocol_version}"
        )
    expected = offer.total_collateral - offer.offer_collateral
    if accept.accept_collateral != expected:
        # "if accept_collateral_satoshis is not total_collateral -
        # offer_collateral_satoshis: MAY reject the contract." We do.
        raise CollateralMismatch(
            f"accept_collateral_satoshis {accept.accept_collateral} is not {expected}"
        )
    _check_standard(accept.payout_spk, "payout_spk")
    _check_standard(accept.change_spk, "change_spk")
    _check_pubkey(accept.funding_pubkey, "accept funding_pubkey")
    _check_serial_ids(offer, accept)
    _check_inputs(accept.funding_inputs, "accepter")
    _check_funding(accept_party(accept), offer.feerate_per_vb, "accepter")
    plan = _plan(offer.contract_info, _negotiated(offer, accept.negotiation_fields), policy)
    txs = _transactions(offer, accept, plan, policy)
    _check_refund_signature(accept.refund_signature, accept.funding_pubkey, txs, "accepter")
    _check_adaptor_signatures(
        accept.cet_adaptor_signatures,
        accept.funding_pubkey,
        offer,
        accept,
        plan,
        txs,
        policy,
        Signer.ACCEPTER,
        executor,
    )
    return CheckedAccept(offer, accept, plan, txs)


def _check_serial_ids(offer: OfferDlc, accept: AcceptDlc) -> None:
    """The receiver MUST reject if any input_serial_id, change_serial_id or
    payout_serial_id "is duplicated", or "if any change_serial_id is equal to
    the fund_output_serial_id"."""
    _check_unique_serial_ids((*offer.funding_inputs, *accept.funding_inputs))
    if accept.change_serial_id == offer.change_serial_id:
        raise DuplicateChangeSerialId("accept change_serial_id equals the offer's")
    if accept.change_serial_id == offer.fund_output_serial_id:
        raise FundOutputSerialIdReused("accept change_serial_id equals fund_output_serial_id")
    if accept.payout_serial_id == offer.payout_serial_id:
        raise DuplicatePayoutSerialId("accept payout_serial_id equals the offer's")


def _negotiated(
    offer: OfferDlc, fields: NegotiationFields | None
) -> tuple[RoundingIntervals | None, ...] | None:
    """Messaging.md: disjoint negotiation fields have one entry per disjoint event."""
    if fields is None:
        return None
    events = len(offer.contract_info.events)
    if isinstance(fields, DisjointNegotiationFields):
        if len(fields.fields) != events:
            raise InvalidNegotiationFields(
                f"{len(fields.fields)} negotiation fields for {events} disjoint events"
            )
        singles = fields.fields
    elif events != 1:
        raise InvalidNegotiationFields("single negotiation fields for a disjoint contract")
    else:
        singles = (fields,)
    out: list[RoundingIntervals | None] = []
    for item in singles:
        if isinstance(item, DisjointNegotiationFields):
            raise InvalidNegotiationFields("nested disjoint negotiation fields")
        try:
            item.rounding_intervals.check()
        except TentenoneError as exc:
            raise InvalidNegotiationFields(exc.message) from None
        out.append(item.rounding_intervals)
    return tuple(out)


def _transactions(
    offer: OfferDlc, accept: AcceptDlc, plan: CetPlan, policy: ValidationPolicy
) -> DlcTransactions:
    try:
        return contract_transactions(offer, accept, plan, policy.layout)
    except TentenoneError as exc:
        raise InvalidContractInfo(
            f"cannot build the contract's transactions: {exc.message}"
        ) from None


def _check_refund_signature(sig: bytes, pubkey: bytes, txs: DlcTransactions, who: str) -> None:
    """MUST reject if "refund_signature fail[s] validation"."""
    funding = txs.funding
    digest = funding_spend_sighash(txs.refund, funding.funding_script, funding.value)
    try:
        ok = ecdsa.verify_compact(pubkey, digest, sig)
    except TentenoneError:
        ok = False
    if not ok:
        raise InvalidRefundSignature(f"the {who}'s refund signature does not verify")


def _check_adaptor_signatures(
    sigs: Sequence[bytes],
    pubkey: bytes,
    offer: OfferDlc,
    accept: AcceptDlc,
    plan: CetPlan,
    txs: DlcTransactions,
    policy: ValidationPolicy,
    signer: Signer,
    executor: Executor | None,
) -> None:
    """MUST reject if "cet_adaptor_signatures ... fail validation"; there must be
    one "for every event specified in the offer_dlc's contract_info"."""
    if len(sigs) != len(plan.entries):
        raise AdaptorSignatureCountMismatch(
            f"{len(sigs)} adaptor signatures, the contract needs {len(plan.entries)}"
        )
    digests = cet_digests(txs)
    cets = signed_cets(plan, signer, policy.layout)
    points = adaptor_points(offer.contract_info, plan, policy.hashing)
    items = [(p, digests[c], s) for p, c, s in zip(points, cets, sigs, strict=True)]
    for index, ok in enumerate(_verify_all(pubkey, items, executor)):
        if ok or _other_rounding_verifies(index, items[index], offer, accept, plan, txs, pubkey):
            continue
        entry = plan.entries[index]
        raise InvalidAdaptorSignature(
            f"adaptor signature {index} (CET {entry.cet_index}) does not verify",
            index=index,
        )


def _verify_all(
    pubkey: bytes, items: list[tuple[Point, bytes, bytes]], executor: Executor | None = None
) -> list[bool]:
    try:
        return adaptor.verify_many(pubkey, items, executor=executor)
    except TentenoneError:
        pass  # a malformed signature somewhere: find which one by one
    out = []
    for point, digest, sig in items:
        try:
            out.append(adaptor.verify(pubkey, point, digest, sig))
        except TentenoneError:
            out.append(False)
    return out


def _other_rounding_verifies(
    index: int,
    item: tuple[Point, bytes, bytes],
    offer: OfferDlc,
    accept: AcceptDlc,
    plan: CetPlan,
    txs: DlcTransactions,
    pubkey: bytes,
) -> bool:
    """NumericOutcome.md: if adaptor_verify fails, "compute the CET and adaptor
    point resulting from" rounding the other way and verify against it."""
    entry = plan.entries[index]
    if entry.rounding_mod <= 1:
        return False
    payout = plan.payouts[entry.cet_index]
    total = payout.offer + payout.accept
    cet = txs.cets[entry.cet_index]
    point, _digest, sig = item
    for offer_amount in (payout.offer - entry.rounding_mod, payout.offer + entry.rounding_mod):
        if not 0 <= offer_amount <= total:
            continue
        (other,) = build_cets(
            txs.funding.outpoint,
            offer.payout_spk,
            offer.payout_serial_id,
            accept.payout_spk,
            accept.payout_serial_id,
            [(offer_amount, total - offer_amount)],
            cet.locktime,
        )
        digest = funding_spend_sighash(other, txs.funding.funding_script, txs.funding.value)
        if _verify_all(pubkey, [(point, digest, sig)])[0]:
            return True
    return False


# --- sign ---------------------------------------------------------------------


def validate_sign(
    accepted: CheckedAccept,
    sign: SignDlc,
    policy: ValidationPolicy,
    *,
    executor: Executor | None = None,
) -> CheckedSign:
    """The accepter's checks of sign_dlc, against the contract it accepted."""
    offer, accept, txs = accepted.offer, accepted.accept, accepted.transactions
    if sign.protocol_version != offer.protocol_version:
        # sender MUST "set protocol_version to the same value as ... the sent offer_dlc"
        raise ProtocolVersionMismatch(
            f"protocol_version {sign.protocol_version} differs from the offer's "
            f"{offer.protocol_version}"
        )
    funding = txs.funding
    expected = contract_id(funding.tx.txid(), funding.output_index, offer.temporary_contract_id)
    if sign.contract_id != expected:
        # sender MUST "set contract_id by exclusive-OR of the funding_txid, the
        # funding_output_index and the temporary_contract_id"
        raise ContractIdMismatch(f"contract_id {sign.contract_id.hex()} is not {expected.hex()}")
    # "if any signature or witness is incorrect: MUST reject the contract"
    _check_refund_signature(sign.refund_signature, offer.funding_pubkey, txs, "offerer")
    _check_adaptor_signatures(
        sign.cet_adaptor_signatures,
        offer.funding_pubkey,
        offer,
        accept,
        accepted.plan,
        txs,
        policy,
        Signer.OFFERER,
        executor,
    )
    return CheckedSign(accepted, sign, _check_funding_witnesses(offer, accept, sign, txs))


def _check_funding_witnesses(
    offer: OfferDlc, accept: AcceptDlc, sign: SignDlc, txs: DlcTransactions
) -> Transaction:
    """Sender MUST "set funding_signatures to contain valid witnesses for every
    funding input specified in the offer_dlc message and in the same order"."""
    own = sorted(offer.funding_inputs, key=lambda i: i.input_serial_id)
    if len(sign.funding_signatures) != len(own):
        raise InvalidFundingSignature(
            f"{len(sign.funding_signatures)} witnesses for {len(own)} offerer funding inputs"
        )
    order = sorted(i.input_serial_id for i in (*offer.funding_inputs, *accept.funding_inputs))
    witnesses: list[tuple[bytes, ...]] = [() for _ in order]
    tx = txs.funding.tx
    for item, witness in zip(own, sign.funding_signatures, strict=True):
        if _witness_size(witness) > item.max_witness_len:
            # "if any witness exceeds its corresponding max_witness_len ...
            # MAY reject the contract." We do.
            raise WitnessTooLong(
                f"witness of input {item.input_serial_id} is larger than max_witness_len "
                f"{item.max_witness_len}"
            )
        index = order.index(item.input_serial_id)
        (spent,) = to_tx_inputs([item])
        try:
            ok = bool(witness) and verify_p2wpkh_witness(
                tx, index, spent.value, spent.script_pubkey, witness
            )
        except TentenoneError:
            ok = False
        if not ok:
            raise InvalidFundingSignature(
                f"witness of funding input {item.input_serial_id} does not verify"
            )
        witnesses[index] = witness
    return tx.with_witnesses(witnesses)


def _witness_size(witness: Sequence[bytes]) -> int:
    """Transactions.md: max_witness_len counts the element count and each
    element with its length prefix."""
    size = len(encode_varint(len(witness)))
    return size + sum(len(encode_varint(len(e))) + len(e) for e in witness)


# --- attestation --------------------------------------------------------------


def validate_attestation(
    attestation: OracleAttestation,
    announcements: Collection[OracleAnnouncement],
    hashing: OracleHashingPolicy,
) -> OracleAnnouncement:
    """Oracle-Validation.md: an attestation whose event was never accepted, or
    signed by another key, or whose signatures are "not valid against the
    nonces committed in the accepted announcement" MUST be ignored; we raise.

    Returns the announcement the attestation answers.
    """
    key, event_id = attestation.oracle_public_key, attestation.event_id
    matching = [
        a
        for a in announcements
        if a.oracle_public_key == key and a.oracle_event.event_id == event_id
    ]
    if not matching:
        raise UnrequestedAttestation(
            f"no accepted announcement of event {event_id!r} by {key.hex()}"
        )
    announcement = matching[0]
    nonces = announcement.oracle_event.oracle_nonces
    if len(attestation.signatures) != len(nonces):
        raise InvalidAttestation(
            f"{len(attestation.signatures)} signatures for {len(nonces)} announced nonces"
        )
    try:
        ok = len(attestation.outcomes) == len(attestation.signatures) and verify_attestation(
            key, nonces, attestation.signatures, attestation.outcomes, hashing.for_key(key)
        )
    except TentenoneError:
        ok = False
    if not ok:
        raise InvalidAttestation(f"attestation of event {event_id!r} does not verify")
    return announcement
