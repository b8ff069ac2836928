"""Rollover: renew an open contract into a new one for the next expiry.

A renewal transaction spends the old funding output (and the coordinator's
fee inputs, which pay its whole fee) into the new contract's funding output.
The order of signatures makes sure that no moment exists when either side
holds an output it cannot settle (ADR 0102):

1. ``renew_offer`` (coordinator): the new contract, its keys, its fee inputs.
2. ``renew_accept`` (trader): the trader's adaptor signature of every new CET
   and its new refund signature. Nothing spends the old output yet.
3. ``renew_sign`` (coordinator): the coordinator's new CET and refund
   signatures, *then* its renewal signature and fee input witnesses. The
   trader now holds a fully signed new contract before it signs the renewal.
4. ``renew_finalize`` (trader): the trader's renewal signature. Both can now
   broadcast the renewal transaction.

Until the renewal confirms the old contract stays settleable; a renewal that
stops half-way is made invalid by the coordinator spending its fee input
elsewhere, which leaves the old contract as it was.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import replace

from tentenone.bitcoin import ecdsa
from tentenone.bitcoin.curve import base_mult, point_from_bytes, scalar_from_bytes
from tentenone.bitcoin.script import is_standard_script_pubkey
from tentenone.bitcoin.tx import Transaction
from tentenone.dlc import adaptor
from tentenone.dlc.adaptor_points import adaptor_points
from tentenone.dlc.cets import plan_cets
from tentenone.dlc.contract import ContractInfo
from tentenone.dlc.messages import FundingInput
from tentenone.dlc.protocol.errors import InvalidRenewal, InvalidRenewalSignature, QuoteExpired
from tentenone.dlc.protocol.messages import (
    PROTOCOL_VERSION,
    RenewAccept,
    RenewFinalize,
    RenewOffer,
    RenewSign,
)
from tentenone.dlc.protocol.opening import check_secret
from tentenone.dlc.protocol.signed import SignedContract, UnsignedContract, renewal_contract
from tentenone.dlc.protocol.signer import InputSigner
from tentenone.dlc.signing import cet_digests, sign_cets, sign_refund, to_tx_inputs
from tentenone.dlc.transactions import (
    funding_spend_sighash,
    funding_spend_witness,
    verify_p2wpkh_witness,
)
from tentenone.dlc.validation import (
    InvalidAdaptorSignature,
    InvalidRefundSignature,
    ValidationPolicy,
)
from tentenone.errors import TentenoneError
from tentenone.oracle.announcement import verify_announcement

__all__ = [
    "accept_renewal",
    "build_renew_offer",
    "check_renew_offer",
    "complete_renewal",
    "finalize_renewal",
    "renewed_contract",
    "sign_renewal",
]


def build_renew_offer(
    old: SignedContract,
    info: ContractInfo,
    offer_collateral: int,
    *,
    funding_pubkey: bytes,
    payout_spk: bytes,
    fee_inputs: Sequence[FundingInput],
    change_spk: bytes,
    fee_rate: int,
    cet_locktime: int,
    refund_locktime: int,
    expires_at: int,
) -> RenewOffer:
    ids: list[int] = []
    while len(ids) < 3 + len(fee_inputs):
        value = secrets.randbits(64)
        if value not in ids:
            ids.append(value)
    return RenewOffer(
        protocol_version=PROTOCOL_VERSION,
        contract_id=old.contract_id,
        temporary_contract_id=secrets.token_bytes(32),
        contract_info=info,
        funding_pubkey=funding_pubkey,
        payout_spk=payout_spk,
        payout_serial_id=ids[0],
        offer_collateral=offer_collateral,
        fee_inputs=tuple(
            replace(i, input_serial_id=s) for i, s in zip(fee_inputs, ids[3:], strict=True)
        ),
        change_spk=change_spk,
        change_serial_id=ids[1],
        fund_output_serial_id=ids[2],
        feerate_per_vb=fee_rate,
        cet_locktime=cet_locktime,
        refund_locktime=refund_locktime,
        expires_at=expires_at,
    )


def check_renew_offer(
    old: SignedContract, offer: RenewOffer, policy: ValidationPolicy, *, now: int
) -> None:
    """The trader's protocol checks of a renewal offer (the trade terms of the new
    contract are checked by the caller with ``check_offer_terms``' rules)."""
    if offer.contract_id != old.contract_id:
        raise InvalidRenewal("renew_offer renews another contract")
    if now > offer.expires_at:
        raise QuoteExpired(f"the renewal offer expired at {offer.expires_at}")
    for spk, what in ((offer.payout_spk, "payout_spk"), (offer.change_spk, "change_spk")):
        if not is_standard_script_pubkey(spk):
            raise InvalidRenewal(f"{what} {spk.hex()} is not a standard script pubkey")
    if not policy.min_fee_rate <= offer.feerate_per_vb <= policy.max_fee_rate:
        raise InvalidRenewal(f"feerate_per_vb {offer.feerate_per_vb} is out of range")
    if not offer.cet_locktime < offer.refund_locktime:
        raise InvalidRenewal("cet_locktime is not before refund_locktime")
    if not 0 < offer.offer_collateral <= offer.total_collateral:
        raise InvalidRenewal("offer collateral is not within the total collateral")
    try:
        point_from_bytes(offer.funding_pubkey, "funding_pubkey")
    except TentenoneError as exc:
        raise InvalidRenewal(exc.message) from None
    for event in offer.contract_info.events:
        for a in event.oracle_info.announcements:
            key = a.oracle_public_key
            if policy.known_oracles is not None and key not in policy.known_oracles:
                raise InvalidRenewal(f"oracle {key.hex()} is unknown to this node")
            value = a.oracle_event.value_bytes()
            if not verify_announcement(
                key, a.announcement_signature, value, policy.hashing.for_key(key)
            ):
                raise InvalidRenewal(f"announcement of {a.oracle_event.event_id!r} is invalid")


def _contract(
    old: SignedContract, offer: RenewOffer, accept: RenewAccept, policy: ValidationPolicy
) -> UnsignedContract:
    try:
        plan = plan_cets(offer.contract_info, max_entries=policy.max_adaptor_signatures)
        return renewal_contract(old, offer, accept, plan)
    except InvalidRenewal:
        raise
    except TentenoneError as exc:
        raise InvalidRenewal(f"cannot build the renewal: {exc.message}") from None


def _verify_signatures(
    new: UnsignedContract,
    pubkey: bytes,
    sigs: Sequence[bytes],
    refund_sig: bytes,
    policy: ValidationPolicy,
    who: str,
    executor: Executor | None,
) -> None:
    if len(sigs) != len(new.plan.entries):
        raise InvalidAdaptorSignature(
            f"{len(sigs)} adaptor signatures, the new contract needs {len(new.plan.entries)}"
        )
    digests = cet_digests(new.txs)
    points = adaptor_points(new.contract_info, new.plan, policy.hashing)
    items = [
        (p, digests[e.cet_index], s) for p, e, s in zip(points, new.plan.entries, sigs, strict=True)
    ]
    try:
        results = adaptor.verify_many(pubkey, items, executor=executor)
    except TentenoneError:
        results = [False]
    if not all(results):
        bad = results.index(False) if False in results else 0
        raise InvalidAdaptorSignature(
            f"the {who}'s adaptor signature {bad} of the new contract does not verify", index=bad
        )
    f = new.txs.funding
    digest = funding_spend_sighash(new.txs.refund, f.funding_script, f.value)
    if not _verify_compact(pubkey, digest, refund_sig):
        raise InvalidRefundSignature(
            f"the {who}'s refund signature of the new contract does not verify"
        )


def _verify_compact(pubkey: bytes, digest: bytes, sig: bytes) -> bool:
    try:
        return ecdsa.verify_compact(pubkey, digest, sig)
    except TentenoneError:
        return False


def _renewal_digest(old: SignedContract, new: UnsignedContract) -> bytes:
    """The renewal tx spends the old funding output as its input 0."""
    return funding_spend_sighash(new.txs.funding.tx, old.funding.funding_script, old.funding.value)


def accept_renewal(
    old: SignedContract,
    offer: RenewOffer,
    policy: ValidationPolicy,
    new_secret: bytes,
    payout_spk: bytes,
    *,
    now: int,
    executor: Executor | None = None,
) -> tuple[RenewAccept, UnsignedContract]:
    """The trader's renew_accept: signatures of the new contract only."""
    check_renew_offer(old, offer, policy, now=now)
    pubkey = _pubkey(new_secret)
    serial = secrets.randbits(64)
    while serial == offer.payout_serial_id:
        serial = secrets.randbits(64)
    draft = RenewAccept(
        PROTOCOL_VERSION, offer.temporary_contract_id, pubkey, payout_spk, serial, (), bytes(64)
    )
    new = _contract(old, offer, draft, policy)
    sigs = sign_cets(
        new_secret, new.contract_info, new.plan, new.txs, policy.hashing, executor=executor
    )
    accept = replace(
        draft, cet_adaptor_signatures=sigs, refund_signature=sign_refund(new_secret, new.txs)
    )
    return accept, new


def _pubkey(secret: bytes) -> bytes:
    return base_mult(scalar_from_bytes(secret, "funding secret")).format()


def sign_renewal(
    old: SignedContract,
    offer: RenewOffer,
    accept: RenewAccept,
    policy: ValidationPolicy,
    new_secret: bytes,
    old_secret: bytes,
    signer: InputSigner,
    *,
    executor: Executor | None = None,
) -> tuple[RenewSign, UnsignedContract]:
    """The coordinator checks the trader's new signatures, then signs the new
    contract and, last, the renewal tx (its old-funding input and fee inputs)."""
    check_secret(new_secret, offer.funding_pubkey)
    check_secret(old_secret, old.contract.offer_pubkey)
    if accept.temporary_contract_id != offer.temporary_contract_id:
        raise InvalidRenewal("renew_accept answers another renewal")
    if accept.payout_serial_id == offer.payout_serial_id:
        raise InvalidRenewal("renew_accept reuses the offer's payout_serial_id")
    if not is_standard_script_pubkey(accept.payout_spk):
        raise InvalidRenewal("renew_accept payout_spk is not standard")
    new = _contract(old, offer, accept, policy)
    _verify_signatures(
        new,
        accept.funding_pubkey,
        accept.cet_adaptor_signatures,
        accept.refund_signature,
        policy,
        "trader",
        executor,
    )
    sigs = sign_cets(
        new_secret, new.contract_info, new.plan, new.txs, policy.hashing, executor=executor
    )
    tx = new.txs.funding.tx
    fee_inputs = to_tx_inputs(offer.fee_inputs)
    index_of = {txin.outpoint: n for n, txin in enumerate(tx.inputs)}
    witnesses = signer.sign_inputs(tx, [(index_of[i.outpoint], i) for i in fee_inputs])
    sign = RenewSign(
        PROTOCOL_VERSION,
        new.contract_id,
        sigs,
        sign_refund(new_secret, new.txs),
        ecdsa.sign_compact(old_secret, _renewal_digest(old, new)),
        tuple(witnesses[n] for n in sorted(witnesses)),
    )
    return sign, new


def _assemble(
    old: SignedContract,
    new: UnsignedContract,
    offer_sig: bytes,
    accept_sig: bytes,
    fee_witnesses: Sequence[tuple[bytes, ...]],
) -> Transaction:
    tx = new.txs.funding.tx
    first = funding_spend_witness(
        old.funding.funding_script,
        {old.contract.offer_pubkey: offer_sig, old.contract.accept_pubkey: accept_sig},
    )
    if len(fee_witnesses) != len(tx.inputs) - 1:
        raise InvalidRenewalSignature(
            f"{len(fee_witnesses)} fee input witnesses for {len(tx.inputs) - 1} fee inputs"
        )
    return tx.with_witnesses([first, *fee_witnesses])


def finalize_renewal(
    old: SignedContract,
    offer: RenewOffer,
    accept: RenewAccept,
    sign: RenewSign,
    policy: ValidationPolicy,
    old_secret: bytes,
    *,
    executor: Executor | None = None,
) -> tuple[RenewFinalize, SignedContract, Transaction]:
    """The trader checks the new contract's coordinator signatures and the renewal
    signature, then signs the renewal: the new contract and the full renewal tx."""
    check_secret(old_secret, old.contract.accept_pubkey)
    new = _contract(old, offer, accept, policy)
    if sign.contract_id != new.contract_id:
        raise InvalidRenewal("renew_sign names another new contract id")
    _verify_signatures(
        new,
        offer.funding_pubkey,
        sign.cet_adaptor_signatures,
        sign.refund_signature,
        policy,
        "coordinator",
        executor,
    )
    digest = _renewal_digest(old, new)
    if not _verify_compact(old.contract.offer_pubkey, digest, sign.renewal_signature):
        raise InvalidRenewalSignature("the coordinator's renewal signature does not verify")
    tx = new.txs.funding.tx
    for n, (item, witness) in enumerate(
        zip(to_tx_inputs(offer.fee_inputs), sign.fee_input_witnesses, strict=False), start=1
    ):
        if not verify_p2wpkh_witness(tx, n, item.value, item.script_pubkey, witness):
            raise InvalidRenewalSignature(f"the witness of fee input {n} does not verify")
    ours = ecdsa.sign_compact(old_secret, digest)
    full = _assemble(old, new, sign.renewal_signature, ours, sign.fee_input_witnesses)
    signed = SignedContract(
        new,
        sign.cet_adaptor_signatures,
        accept.cet_adaptor_signatures,
        sign.refund_signature,
        accept.refund_signature,
    )
    return RenewFinalize(PROTOCOL_VERSION, new.contract_id, ours), signed, full


def complete_renewal(
    old: SignedContract,
    offer: RenewOffer,
    accept: RenewAccept,
    sign: RenewSign,
    finalize: RenewFinalize,
    policy: ValidationPolicy,
) -> tuple[SignedContract, Transaction]:
    """The coordinator checks the trader's renewal signature: the full renewal tx."""
    new = _contract(old, offer, accept, policy)
    if finalize.contract_id != new.contract_id:
        raise InvalidRenewal("renew_finalize names another new contract id")
    if not _verify_compact(
        old.contract.accept_pubkey, _renewal_digest(old, new), finalize.renewal_signature
    ):
        raise InvalidRenewalSignature("the trader's renewal signature does not verify")
    full = _assemble(
        old, new, sign.renewal_signature, finalize.renewal_signature, sign.fee_input_witnesses
    )
    return renewed_contract(new, offer, accept, sign), full


def renewed_contract(
    new: UnsignedContract, offer: RenewOffer, accept: RenewAccept, sign: RenewSign
) -> SignedContract:
    del offer
    return SignedContract(
        new,
        sign.cet_adaptor_signatures,
        accept.cet_adaptor_signatures,
        sign.refund_signature,
        accept.refund_signature,
    )
