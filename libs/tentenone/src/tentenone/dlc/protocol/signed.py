"""A signed contract: what each side keeps once both sides' signatures are exchanged.

Built from the stored messages (``offer_dlc``/``accept_dlc``/``sign_dlc``, or
a renewal's ``renew_offer``/``renew_accept``/``renew_sign`` plus the contract
it renews), so a side only has to keep the message bytes: the CET plan and
the transactions are rebuilt from them, deterministically.
"""

from __future__ import annotations

from dataclasses import dataclass

from tentenone.bitcoin.script import multisig_2of2, p2wsh
from tentenone.bitcoin.tx import SEQUENCE_FINAL, OutPoint, Transaction, TxIn, TxOut
from tentenone.dlc.cets import CetPlan, plan_cets
from tentenone.dlc.contract import ContractInfo
from tentenone.dlc.messages import AcceptDlc, OfferDlc, SignDlc
from tentenone.dlc.protocol.errors import InvalidRenewal
from tentenone.dlc.protocol.messages import RenewAccept, RenewOffer
from tentenone.dlc.signing import contract_transactions, to_tx_inputs
from tentenone.dlc.transactions import (
    DUST_LIMIT,
    TX_INPUT_BASE_WEIGHT,
    DlcTransactions,
    FundingTransaction,
    PartyParams,
    build_cets,
    build_refund_transaction,
    contract_id,
    party_fees,
    weight_to_fee,
)

__all__ = [
    "RENEWAL_FUNDING_WITNESS_WEIGHT",
    "SignedContract",
    "UnsignedContract",
    "renewal_contract",
]

#: ``0 <sig> <sig> <2-of-2 script>``: count, two DER signatures, the 71-byte script
RENEWAL_FUNDING_WITNESS_WEIGHT = 1 + 2 * 74 + 72
_TX_OVERHEAD_WEIGHT = 4 * (4 + 1 + 1 + 4) + 2  # version, counts, locktime; segwit marker


@dataclass(frozen=True, slots=True)
class UnsignedContract:
    """A contract's terms and transactions before (or without) the signatures."""

    contract_info: ContractInfo
    plan: CetPlan
    txs: DlcTransactions
    offer_pubkey: bytes
    accept_pubkey: bytes
    offer_collateral: int
    accept_collateral: int
    temporary_contract_id: bytes
    offer_payout_spk: bytes
    offer_payout_serial_id: int
    accept_payout_spk: bytes
    accept_payout_serial_id: int

    @property
    def contract_id(self) -> bytes:
        funding = self.txs.funding
        return contract_id(funding.tx.txid(), funding.output_index, self.temporary_contract_id)


@dataclass(frozen=True, slots=True)
class SignedContract:
    """Everything needed to settle, refund, close or renew one contract."""

    contract: UnsignedContract
    offer_adaptor_signatures: tuple[bytes, ...]
    accept_adaptor_signatures: tuple[bytes, ...]
    offer_refund_signature: bytes
    accept_refund_signature: bytes

    @property
    def contract_id(self) -> bytes:
        return self.contract.contract_id

    @property
    def txs(self) -> DlcTransactions:
        return self.contract.txs

    @property
    def funding(self) -> FundingTransaction:
        return self.contract.txs.funding

    @property
    def funding_outpoint(self) -> OutPoint:
        return self.contract.txs.funding.outpoint

    @property
    def total_collateral(self) -> int:
        return self.contract.offer_collateral + self.contract.accept_collateral

    @property
    def maturity(self) -> int:
        """The UNIX time the oracle attests at (the first event's maturity)."""
        event = self.contract.contract_info.events[0]
        return event.oracle_info.announcements[0].oracle_event.event_maturity_epoch

    @classmethod
    def from_opening(
        cls, offer: OfferDlc, accept: AcceptDlc, sign: SignDlc, plan: CetPlan | None = None
    ) -> SignedContract:
        """From the three opening messages (already validated when they were received)."""
        if plan is None:
            plan = plan_cets(offer.contract_info)
        txs = contract_transactions(offer, accept, plan)
        unsigned = UnsignedContract(
            offer.contract_info,
            plan,
            txs,
            offer.funding_pubkey,
            accept.funding_pubkey,
            offer.offer_collateral,
            accept.accept_collateral,
            offer.temporary_contract_id,
            offer.payout_spk,
            offer.payout_serial_id,
            accept.payout_spk,
            accept.payout_serial_id,
        )
        return cls(
            unsigned,
            sign.cet_adaptor_signatures,
            accept.cet_adaptor_signatures,
            sign.refund_signature,
            accept.refund_signature,
        )


def _renewal_weight(offer: RenewOffer) -> int:
    """The renewal tx's weight: the shared 2-of-2 input and funding output, the
    coordinator's fee inputs and change (the coordinator pays all of its fee)."""
    fee_inputs = to_tx_inputs(offer.fee_inputs)
    weight = _TX_OVERHEAD_WEIGHT + TX_INPUT_BASE_WEIGHT + RENEWAL_FUNDING_WITNESS_WEIGHT
    weight += sum(
        TX_INPUT_BASE_WEIGHT + 4 * len(i.script_sig) + i.max_witness_len for i in fee_inputs
    )
    weight += 4 * (8 + 1 + 34)  # the new P2WSH funding output
    weight += 4 * (8 + 1 + len(offer.change_spk))
    return weight


def renewal_contract(
    old: SignedContract, offer: RenewOffer, accept: RenewAccept, plan: CetPlan | None = None
) -> UnsignedContract:
    """The new contract of a renewal: the renewal tx (its "funding transaction"),
    spending the old funding output and the coordinator's fee inputs into the new
    funding output (and the coordinator's change), then CETs and refund on it."""
    if plan is None:
        plan = plan_cets(offer.contract_info)
    accept_collateral = offer.total_collateral - offer.offer_collateral
    offer_p = PartyParams(
        offer.funding_pubkey,
        offer.change_spk,
        offer.change_serial_id,
        offer.payout_spk,
        offer.payout_serial_id,
        to_tx_inputs(offer.fee_inputs),
        offer.offer_collateral,
    )
    accept_p = PartyParams(
        accept.funding_pubkey,
        b"",
        0,
        accept.payout_spk,
        accept.payout_serial_id,
        (),
        accept_collateral,
    )
    closing_fees = party_fees(offer_p, offer.feerate_per_vb).closing_fee
    closing_fees += party_fees(accept_p, offer.feerate_per_vb).closing_fee
    fund_value = offer.total_collateral + closing_fees
    fee = weight_to_fee(_renewal_weight(offer), offer.feerate_per_vb)
    change = old.funding.value + offer_p.input_amount - fund_value - fee
    if change < 0:
        raise InvalidRenewal(
            f"the old funding output and fee inputs ({old.funding.value} + "
            f"{offer_p.input_amount} sat) do not cover the new funding output {fund_value} "
            f"and the renewal fee {fee}"
        )
    script = multisig_2of2(offer.funding_pubkey, accept.funding_pubkey)
    funding_out = TxOut(fund_value, p2wsh(script))
    outs = sorted(
        [
            (offer.fund_output_serial_id, funding_out),
            (offer.change_serial_id, TxOut(change, offer.change_spk)),
        ],
        key=lambda item: item[0],
    )
    outputs = tuple(o for _, o in outs if o is funding_out or o.value >= DUST_LIMIT)
    fee_inputs = sorted(offer_p.inputs, key=lambda i: i.serial_id)
    inputs = (
        TxIn(old.funding_outpoint, b"", SEQUENCE_FINAL),
        *(TxIn(i.outpoint, i.script_sig, i.sequence) for i in fee_inputs),
    )
    tx = Transaction(2, inputs, outputs, 0)
    funding = FundingTransaction(tx, outputs.index(funding_out), script, fund_value)
    payouts = [(p.offer, p.accept) for p in plan.payouts]
    cets = build_cets(
        funding.outpoint,
        offer.payout_spk,
        offer.payout_serial_id,
        accept.payout_spk,
        accept.payout_serial_id,
        payouts,
        offer.cet_locktime,
    )
    refund = build_refund_transaction(
        funding.outpoint,
        TxOut(offer.offer_collateral, offer.payout_spk),
        TxOut(accept_collateral, accept.payout_spk),
        offer.refund_locktime,
    )
    return UnsignedContract(
        offer.contract_info,
        plan,
        DlcTransactions(funding, cets, refund),
        offer.funding_pubkey,
        accept.funding_pubkey,
        offer.offer_collateral,
        accept_collateral,
        offer.temporary_contract_id,
        offer.payout_spk,
        offer.payout_serial_id,
        accept.payout_spk,
        accept.payout_serial_id,
    )
