"""Opening a contract: offer_dlc → accept_dlc → sign_dlc → the funding transaction.

Coordinator (offerer): :func:`build_offer`, then :func:`sign_accept` on the
trader's accept (every adaptor signature, the refund signature and the
funding inputs checked by :func:`tentenone.dlc.validation.validate_accept`).
Trader (accepter): :func:`accept_offer` (Protocol.md's checks of the offer;
the caller first checks the trade terms with
:func:`tentenone.dlc.protocol.terms.check_offer_terms`), then
:func:`complete_funding` on sign_dlc, which returns the funding transaction
ready to broadcast.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace

from tentenone.bitcoin.curve import base_mult, scalar_from_bytes
from tentenone.bitcoin.tx import Transaction
from tentenone.dlc.contract import ContractInfo
from tentenone.dlc.messages import AcceptDlc, FundingInput, OfferDlc, SignDlc
from tentenone.dlc.protocol.messages import PROTOCOL_VERSION
from tentenone.dlc.protocol.signed import SignedContract
from tentenone.dlc.protocol.signer import InputSigner
from tentenone.dlc.signing import contract_transactions, sign_cets, sign_refund, to_tx_inputs
from tentenone.dlc.transactions import contract_id
from tentenone.dlc.validation import (
    CheckedAccept,
    ValidationPolicy,
    validate_accept,
    validate_offer,
    validate_sign,
)
from tentenone.errors import InvalidInput

__all__ = [
    "PartyFunding",
    "accept_offer",
    "build_offer",
    "check_secret",
    "complete_funding",
    "sign_accept",
]


@dataclass(frozen=True, slots=True)
class PartyFunding:
    """One side's part of a funding transaction. The inputs' serial ids are
    replaced by fresh random ones when the message is built."""

    funding_pubkey: bytes
    payout_spk: bytes
    change_spk: bytes
    inputs: tuple[FundingInput, ...]


def check_secret(secret_key: bytes, pubkey: bytes) -> None:
    """Refuse to sign with a key that is not the one the message names."""
    if base_mult(scalar_from_bytes(secret_key, "funding secret")).format() != pubkey:
        raise InvalidInput("the funding secret key does not match the funding pubkey")


def _serial_ids(n: int, taken: Collection[int]) -> list[int]:
    out: list[int] = []
    while len(out) < n:
        value = secrets.randbits(64)
        if value not in taken and value not in out:
            out.append(value)
    return out


def _renumber(inputs: Sequence[FundingInput], ids: Sequence[int]) -> tuple[FundingInput, ...]:
    return tuple(replace(i, input_serial_id=s) for i, s in zip(inputs, ids, strict=True))


def build_offer(
    info: ContractInfo,
    offer_collateral: int,
    funding: PartyFunding,
    *,
    chain_hash: bytes,
    fee_rate: int,
    cet_locktime: int,
    refund_locktime: int,
    temporary_contract_id: bytes | None = None,
) -> OfferDlc:
    """The coordinator's offer_dlc. The caller validates it as the trader would
    (``validate_offer``) before storing it, so a bad offer never goes out."""
    ids = _serial_ids(3 + len(funding.inputs), ())
    return OfferDlc(
        protocol_version=PROTOCOL_VERSION,
        contract_flags=0,
        chain_hash=chain_hash,
        temporary_contract_id=temporary_contract_id or secrets.token_bytes(32),
        contract_info=info,
        funding_pubkey=funding.funding_pubkey,
        payout_spk=funding.payout_spk,
        payout_serial_id=ids[0],
        offer_collateral=offer_collateral,
        funding_inputs=_renumber(funding.inputs, ids[3:]),
        change_spk=funding.change_spk,
        change_serial_id=ids[1],
        fund_output_serial_id=ids[2],
        feerate_per_vb=fee_rate,
        cet_locktime=cet_locktime,
        refund_locktime=refund_locktime,
    )


def accept_offer(
    offer: OfferDlc,
    policy: ValidationPolicy,
    funding: PartyFunding,
    funding_secret: bytes,
    *,
    known_contract_ids: Collection[bytes] = (),
    executor: Executor | None = None,
) -> tuple[AcceptDlc, CheckedAccept]:
    """The trader's accept_dlc: its funding, its adaptor signature of every CET
    and its refund signature, over the transactions both sides rebuild."""
    check_secret(funding_secret, funding.funding_pubkey)
    checked = validate_offer(offer, policy, known_contract_ids=known_contract_ids)
    taken = {offer.payout_serial_id, offer.change_serial_id, offer.fund_output_serial_id}
    taken.update(i.input_serial_id for i in offer.funding_inputs)
    ids = _serial_ids(2 + len(funding.inputs), taken)
    draft = AcceptDlc(
        protocol_version=offer.protocol_version,
        temporary_contract_id=offer.temporary_contract_id,
        accept_collateral=offer.total_collateral - offer.offer_collateral,
        funding_pubkey=funding.funding_pubkey,
        payout_spk=funding.payout_spk,
        payout_serial_id=ids[0],
        funding_inputs=_renumber(funding.inputs, ids[2:]),
        change_spk=funding.change_spk,
        change_serial_id=ids[1],
        cet_adaptor_signatures=(),
        refund_signature=bytes(64),
    )
    txs = contract_transactions(offer, draft, checked.plan)
    sigs = sign_cets(
        funding_secret, offer.contract_info, checked.plan, txs, policy.hashing, executor=executor
    )
    accept = replace(
        draft, cet_adaptor_signatures=sigs, refund_signature=sign_refund(funding_secret, txs)
    )
    return accept, CheckedAccept(offer, accept, checked.plan, txs)


def _sign_own_inputs(
    tx: Transaction, own: Sequence[FundingInput], signer: InputSigner
) -> dict[int, tuple[bytes, ...]]:
    """Witnesses of our inputs, keyed by their index in ``tx`` (inputs are in
    serial id order: Transactions.md)."""
    parsed = to_tx_inputs(own)
    index_of = {txin.outpoint: n for n, txin in enumerate(tx.inputs)}
    wanted = [(index_of[item.outpoint], item) for item in parsed]
    witnesses = signer.sign_inputs(tx, wanted)
    if set(witnesses) != {n for n, _ in wanted}:
        raise InvalidInput("the input signer did not sign every one of our funding inputs")
    return witnesses


def sign_accept(
    offer: OfferDlc,
    accept: AcceptDlc,
    policy: ValidationPolicy,
    funding_secret: bytes,
    signer: InputSigner,
    *,
    executor: Executor | None = None,
) -> tuple[SignDlc, SignedContract]:
    """The coordinator's sign_dlc after checking the accept in full."""
    check_secret(funding_secret, offer.funding_pubkey)
    checked = validate_accept(offer, accept, policy, executor=executor)
    txs = checked.transactions
    sigs = sign_cets(
        funding_secret, offer.contract_info, checked.plan, txs, policy.hashing, executor=executor
    )
    witnesses = _sign_own_inputs(txs.funding.tx, offer.funding_inputs, signer)
    sign = SignDlc(
        protocol_version=offer.protocol_version,
        contract_id=contract_id(
            txs.funding.tx.txid(), txs.funding.output_index, offer.temporary_contract_id
        ),
        cet_adaptor_signatures=sigs,
        refund_signature=sign_refund(funding_secret, txs),
        # "funding_signatures ... for every funding input specified in the
        # offer_dlc message and in the same order" (serial id order)
        funding_signatures=tuple(witnesses[n] for n in sorted(witnesses)),
    )
    return sign, SignedContract.from_opening(offer, accept, sign, checked.plan)


def complete_funding(
    accepted: CheckedAccept,
    sign: SignDlc,
    policy: ValidationPolicy,
    signer: InputSigner,
    *,
    executor: Executor | None = None,
) -> tuple[Transaction, SignedContract]:
    """The trader checks sign_dlc, adds its own funding witnesses and returns the
    funding transaction ready to broadcast, and the signed contract."""
    checked = validate_sign(accepted, sign, policy, executor=executor)
    tx = checked.funding_transaction
    own = _sign_own_inputs(tx, accepted.accept.funding_inputs, signer)
    stacks = [own.get(n, txin.witness) for n, txin in enumerate(tx.inputs)]
    signed = SignedContract.from_opening(accepted.offer, accepted.accept, sign, accepted.plan)
    return tx.with_witnesses(stacks), signed
