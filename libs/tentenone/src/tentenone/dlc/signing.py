"""Building a contract's transactions from its messages and signing them.

The offerer and the accepter both rebuild the funding transaction, every CET
and the refund from offer_dlc and accept_dlc (Protocol.md), then sign: an
adaptor signature per plan entry (in plan order, the messages' order) and the
refund transaction.

:class:`CetLayout` ``RUST_DLC`` reproduces how rust-dlc (which generated the
test vectors) lays out the CETs of a *disjoint* contract, which differs from
the spec in two ways (ADR 0034): the CETs of every event after the first carry
nLockTime 0, and the offerer's adaptor signatures of those events are made
over the CET at the event-relative index of the whole CET list (so over
another event's CET). We only ever verify that layout, for interoperability
tests; we build and sign with ``SPEC``. For a single-event contract both
layouts are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from enum import StrEnum

from tentenone.bitcoin import ecdsa
from tentenone.dlc import adaptor
from tentenone.dlc.adaptor_points import OracleHashingPolicy, adaptor_points
from tentenone.dlc.cets import CetPlan
from tentenone.dlc.contract import ContractInfo
from tentenone.dlc.messages import AcceptDlc, FundingInput, OfferDlc
from tentenone.dlc.transactions import (
    DlcTransactions,
    PartyParams,
    build_cets,
    build_dlc_transactions,
    cet_sighashes,
    funding_spend_sighash,
)
from tentenone.dlc.transactions import FundingInput as TxFundingInput

__all__ = [
    "CetLayout",
    "Signer",
    "accept_party",
    "cet_digests",
    "contract_transactions",
    "offer_party",
    "sign_cets",
    "sign_refund",
    "signed_cets",
    "to_tx_inputs",
]


class CetLayout(StrEnum):
    SPEC = "spec"
    RUST_DLC = "rust-dlc"


class Signer(StrEnum):
    OFFERER = "offerer"
    ACCEPTER = "accepter"


def to_tx_inputs(inputs: Sequence[FundingInput]) -> tuple[TxFundingInput, ...]:
    """The message's funding inputs as the transaction builder wants them."""
    return tuple(
        TxFundingInput.from_prev_tx(
            i.prevtx,
            i.prevtx_vout,
            max_witness_len=i.max_witness_len,
            redeem_script=i.redeemscript,
            sequence=i.sequence,
            serial_id=i.input_serial_id,
        )
        for i in inputs
    )


def offer_party(offer: OfferDlc) -> PartyParams:
    return PartyParams(
        offer.funding_pubkey,
        offer.change_spk,
        offer.change_serial_id,
        offer.payout_spk,
        offer.payout_serial_id,
        to_tx_inputs(offer.funding_inputs),
        offer.offer_collateral,
    )


def accept_party(accept: AcceptDlc) -> PartyParams:
    return PartyParams(
        accept.funding_pubkey,
        accept.change_spk,
        accept.change_serial_id,
        accept.payout_spk,
        accept.payout_serial_id,
        to_tx_inputs(accept.funding_inputs),
        accept.accept_collateral,
    )


def contract_transactions(
    offer: OfferDlc, accept: AcceptDlc, plan: CetPlan, layout: CetLayout = CetLayout.SPEC
) -> DlcTransactions:
    """Funding transaction, one CET per plan payout, refund."""
    payouts = [(p.offer, p.accept) for p in plan.payouts]
    txs = build_dlc_transactions(
        offer_party(offer),
        accept_party(accept),
        payouts,
        fee_rate=offer.feerate_per_vb,
        fund_output_serial_id=offer.fund_output_serial_id,
        cet_lock_time=offer.cet_locktime,
        refund_lock_time=offer.refund_locktime,
    )
    starts = _event_starts(plan)
    if layout is CetLayout.SPEC or len(starts) < 2:
        return txs
    later = build_cets(
        txs.funding.outpoint,
        offer.payout_spk,
        offer.payout_serial_id,
        accept.payout_spk,
        accept.payout_serial_id,
        payouts[starts[1] :],
        0,
    )
    return DlcTransactions(txs.funding, [*txs.cets[: starts[1]], *later], txs.refund)


def _event_starts(plan: CetPlan) -> list[int]:
    """The index of each event's first CET."""
    starts: dict[int, int] = {}
    for entry in plan.entries:
        starts.setdefault(entry.event_index, entry.cet_index)
    return [starts[i] for i in sorted(starts)]


def signed_cets(plan: CetPlan, signer: Signer, layout: CetLayout = CetLayout.SPEC) -> list[int]:
    """For each plan entry, the index of the CET its adaptor signature covers."""
    if layout is CetLayout.SPEC or signer is Signer.ACCEPTER:
        return [e.cet_index for e in plan.entries]
    starts = _event_starts(plan)
    return [e.cet_index - starts[e.event_index] for e in plan.entries]


def cet_digests(txs: DlcTransactions) -> list[bytes]:
    """The BIP-143 digest of every CET's funding input."""
    funding = txs.funding
    if len({cet.locktime for cet in txs.cets}) <= 1:
        return cet_sighashes(txs.cets, funding.funding_script, funding.value)
    return [funding_spend_sighash(c, funding.funding_script, funding.value) for c in txs.cets]


def sign_cets(
    secret_key: bytes,
    info: ContractInfo,
    plan: CetPlan,
    txs: DlcTransactions,
    hashing: OracleHashingPolicy | None = None,
    *,
    executor: Executor | None = None,
) -> tuple[bytes, ...]:
    """The ``cet_adaptor_signatures`` of accept_dlc / sign_dlc (162 bytes each).

    An ``executor`` (e.g. a ProcessPoolExecutor) spreads the signing over its workers.
    """
    digests = cet_digests(txs)
    points = adaptor_points(info, plan, hashing)
    items = [(p, digests[e.cet_index]) for p, e in zip(points, plan.entries, strict=True)]
    sigs = adaptor.encrypt_many(secret_key, items, executor=executor)
    return tuple(sig.to_bytes() for sig in sigs)


def sign_refund(secret_key: bytes, txs: DlcTransactions) -> bytes:
    """The 64-byte ``refund_signature``."""
    funding = txs.funding
    digest = funding_spend_sighash(txs.refund, funding.funding_script, funding.value)
    return ecdsa.sign_compact(secret_key, digest)
