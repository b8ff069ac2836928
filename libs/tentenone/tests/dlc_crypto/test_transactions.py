"""DLC transactions: ordering, fees, dust, refund, closing, contract id, signing."""

from __future__ import annotations

import pytest
from embit.script import Script
from embit.transaction import Transaction as EmbitTransaction
from hypothesis import given, settings
from hypothesis import strategies as st

from tentenone.bitcoin import ecdsa
from tentenone.bitcoin.curve import base_mult
from tentenone.bitcoin.script import multisig_2of2, p2wpkh, p2wsh
from tentenone.bitcoin.sighash import segwit_v0_sighash
from tentenone.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut, parse_transaction
from tentenone.dlc import transactions as dlctx

FEE_RATE = 4


def _pub(n: int) -> bytes:
    return base_mult(n).format()


def _party(
    n: int, *, serials: tuple[int, int, int], collateral: int, inputs: list[int]
) -> dlctx.PartyParams:
    """Party ``n`` with P2WPKH inputs of the given values; serials (input0, change, payout)."""
    funding_inputs = tuple(
        dlctx.FundingInput(
            OutPoint(bytes([n, i]) * 16, i),
            value,
            p2wpkh(_pub(100 * n + i)),
            108,
            serial_id=serials[0] + i,
        )
        for i, value in enumerate(inputs)
    )
    return dlctx.PartyParams(
        _pub(n),
        p2wpkh(_pub(10 * n)),
        serials[1],
        p2wpkh(_pub(10 * n + 1)),
        serials[2],
        funding_inputs,
        collateral,
    )


OFFER = _party(1, serials=(50, 30, 7), collateral=60_000, inputs=[50_000, 40_000])
ACCEPT = _party(2, serials=(10, 90, 3), collateral=40_000, inputs=[100_000])


def _build(payouts: list[tuple[int, int]]) -> dlctx.DlcTransactions:
    return dlctx.build_dlc_transactions(
        OFFER,
        ACCEPT,
        payouts,
        fee_rate=FEE_RATE,
        fund_output_serial_id=60,
        cet_lock_time=800_000,
        refund_lock_time=810_000,
    )


def test_funding_orders_inputs_and_outputs_by_serial_id() -> None:
    txs = _build([(100_000, 0)])
    tx = txs.funding.tx
    # Inputs: accept's (serial 10), then offer's (50, 51).
    assert [i.outpoint for i in tx.inputs] == [
        ACCEPT.inputs[0].outpoint,
        OFFER.inputs[0].outpoint,
        OFFER.inputs[1].outpoint,
    ]
    # Outputs: offer change (30), funding (60), accept change (90).
    assert [o.script_pubkey for o in tx.outputs] == [
        OFFER.change_script_pubkey,
        p2wsh(multisig_2of2(OFFER.fund_pubkey, ACCEPT.fund_pubkey)),
        ACCEPT.change_script_pubkey,
    ]
    assert txs.funding.output_index == 1
    assert (tx.version, tx.locktime) == (2, 0)


def test_fees_are_split_and_funding_value_covers_closing() -> None:
    txs = _build([(100_000, 0)])
    offer_fees = dlctx.party_fees(OFFER, FEE_RATE)
    accept_fees = dlctx.party_fees(ACCEPT, FEE_RATE)
    assert txs.funding.value == 100_000 + offer_fees.closing_fee + accept_fees.closing_fee
    outputs = txs.funding.tx.outputs
    assert outputs[0].value == 90_000 - 60_000 - offer_fees.funding_fee - offer_fees.closing_fee
    assert outputs[2].value == 100_000 - 40_000 - accept_fees.funding_fee - accept_fees.closing_fee
    # Two inputs weigh more than one: the offerer pays for its own inputs.
    assert offer_fees.funding_fee > accept_fees.funding_fee
    # The expected weight is an upper bound on the signed transaction's real fee rate.
    paid = OFFER.input_amount + ACCEPT.input_amount - sum(o.value for o in outputs)
    assert paid == offer_fees.funding_fee + accept_fees.funding_fee


def test_insufficient_funding_is_refused() -> None:
    poor = _party(3, serials=(1, 2, 3), collateral=60_000, inputs=[60_100])
    with pytest.raises(dlctx.InsufficientFunding, match="do not cover collateral"):
        dlctx.change_value(poor, FEE_RATE)


def test_dust_change_is_left_out() -> None:
    one_input = _party(1, serials=(50, 30, 7), collateral=60_000, inputs=[0])
    fees = dlctx.party_fees(one_input, FEE_RATE)  # fees do not depend on input values
    exact = one_input.collateral + fees.funding_fee + fees.closing_fee + 999
    tight = _party(1, serials=(50, 30, 7), collateral=60_000, inputs=[exact])
    assert dlctx.change_value(tight, FEE_RATE) == 999
    tx = dlctx.build_funding_transaction(tight, ACCEPT, 60, FEE_RATE).tx
    assert OFFER.change_script_pubkey not in [o.script_pubkey for o in tx.outputs]
    assert len(tx.outputs) == 2


def test_cets_sort_by_payout_serial_and_drop_dust() -> None:
    txs = _build([(60_000, 40_000), (99_500, 500), (0, 100_000)])
    both, offer_only, accept_only = txs.cets
    # Accept's payout serial (3) is below offer's (7): accept's output first.
    assert [o.value for o in both.outputs] == [40_000, 60_000]
    assert [o.value for o in offer_only.outputs] == [99_500]
    assert [o.script_pubkey for o in accept_only.outputs] == [ACCEPT.payout_script_pubkey]
    for cet in txs.cets:
        assert cet.locktime == 800_000
        assert cet.inputs == (TxIn(txs.funding.outpoint, b"", 0xFFFFFFFE),)


def test_refund_is_ordered_offer_then_accept() -> None:
    refund = _build([(100_000, 0)]).refund
    assert [o.script_pubkey for o in refund.outputs] == [
        OFFER.payout_script_pubkey,
        ACCEPT.payout_script_pubkey,
    ]
    assert [o.value for o in refund.outputs] == [60_000, 40_000]
    assert refund.locktime == 810_000


def test_payouts_must_split_the_collateral() -> None:
    with pytest.raises(dlctx.TransactionBuildError, match="payout 1"):
        _build([(100_000, 0), (50_000, 49_999)])


def test_closing_transaction() -> None:
    txs = _build([(100_000, 0)])
    close = dlctx.build_closing_transaction(
        txs.funding.outpoint,
        txs.funding.value,
        TxOut(70_000, OFFER.payout_script_pubkey),
        OFFER.payout_serial_id,
        TxOut(30_000, ACCEPT.payout_script_pubkey),
        ACCEPT.payout_serial_id,
    )
    assert [o.value for o in close.outputs] == [30_000, 70_000]
    assert close.locktime == 0 and close.inputs[0].sequence == 0xFFFFFFFF
    with pytest.raises(dlctx.TransactionBuildError, match="exceed the funding output"):
        dlctx.build_closing_transaction(
            txs.funding.outpoint,
            txs.funding.value,
            TxOut(txs.funding.value, OFFER.payout_script_pubkey),
            1,
            TxOut(1, ACCEPT.payout_script_pubkey),
            2,
        )


def test_contract_id_mixes_the_output_index_into_the_last_two_bytes() -> None:
    txid = bytes(range(32))
    temp = bytes(32)
    assert dlctx.contract_id(txid, 0, temp) == txid[::-1]
    mixed = dlctx.contract_id(txid, 0x0102, temp)
    assert mixed[:30] == txid[::-1][:30]
    assert mixed[30:] == bytes([txid[1] ^ 1, txid[0] ^ 2])
    with pytest.raises(dlctx.TransactionBuildError, match="not a u16"):
        dlctx.contract_id(txid, 70_000, temp)


def _to_embit(tx: Transaction) -> EmbitTransaction:
    return EmbitTransaction.parse(tx.serialize())


def test_funding_spend_signatures_and_witness() -> None:
    txs = _build([(60_000, 40_000)])
    funding = txs.funding
    cet = txs.cets[0]
    digest = dlctx.funding_spend_sighash(cet, funding.funding_script, funding.value)
    # embit's independent BIP-143 implementation agrees.
    embit_digest = _to_embit(cet).sighash_segwit(0, Script(funding.funding_script), funding.value)
    assert digest == embit_digest
    assert dlctx.cet_sighashes(txs.cets, funding.funding_script, funding.value)[0] == digest
    sigs = {
        pub: dlctx.sign_funding_spend(cet, key, funding.funding_script, funding.value)
        for key, pub in ((b"\x00" * 31 + b"\x01", _pub(1)), (b"\x00" * 31 + b"\x02", _pub(2)))
    }
    for pub, sig in sigs.items():
        assert dlctx.verify_funding_spend(cet, pub, sig, funding.funding_script, funding.value)
        assert not dlctx.verify_funding_spend(
            txs.refund, pub, sig, funding.funding_script, funding.value
        )
    witness = dlctx.funding_spend_witness(funding.funding_script, sigs)
    first, second = sorted(sigs)
    assert witness[0] == b"" and witness[3] == funding.funding_script
    assert witness[1] == ecdsa.compact_to_der(sigs[first]) + b"\x01"
    assert witness[2] == ecdsa.compact_to_der(sigs[second]) + b"\x01"
    signed = cet.with_witnesses([witness])
    assert parse_transaction(signed.serialize()) == signed
    assert signed.txid() == cet.txid()


@settings(max_examples=20, deadline=None)
@given(payouts=st.lists(st.integers(0, 100_000), min_size=1, max_size=12))
def test_cet_sighashes_match_single_digests(payouts: list[int]) -> None:
    txs = _build([(p, 100_000 - p) for p in payouts])
    f = txs.funding
    expected = [segwit_v0_sighash(c, 0, f.funding_script, f.value) for c in txs.cets]
    assert dlctx.cet_sighashes(txs.cets, f.funding_script, f.value) == expected


def test_p2wpkh_funding_input_signing() -> None:
    key = b"\x00" * 31 + b"\x2a"
    prev = TxOut(50_000, p2wpkh(_pub(42)))
    tx = Transaction(2, (TxIn(OutPoint(b"\x01" * 32, 0)),), (TxOut(49_000, prev.script_pubkey),))
    witness = dlctx.sign_p2wpkh_input(tx, 0, key, prev.value)
    embit_digest = _to_embit(tx).sighash_segwit(
        0, Script(b"\x76\xa9\x14" + prev.script_pubkey[2:] + b"\x88\xac"), prev.value
    )
    assert ecdsa.verify(witness[1], embit_digest, witness[0][:-1])
    assert dlctx.verify_p2wpkh_witness(tx, 0, prev.value, prev.script_pubkey, witness)
    assert not dlctx.verify_p2wpkh_witness(tx, 0, prev.value + 1, prev.script_pubkey, witness)
    assert not dlctx.verify_p2wpkh_witness(tx, 0, prev.value, p2wpkh(_pub(43)), witness)
    assert not dlctx.verify_p2wpkh_witness(tx, 0, prev.value, prev.script_pubkey, witness[:1])


def test_segwit_inputs() -> None:
    native = OFFER.inputs[0]
    assert dlctx.is_segwit_input(native)
    legacy = dlctx.FundingInput(native.outpoint, 1, b"\x76\xa9\x14" + bytes(20) + b"\x88\xac", 107)
    assert not dlctx.is_segwit_input(legacy)
