"""Every flow of the two-party protocol, both roles in-process, on the shared functions."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from tentenone.bitcoin.script import p2wpkh
from tentenone.bitcoin.tx import Transaction
from tentenone.dlc.curve import Side
from tentenone.dlc.errors import ContractError
from tentenone.dlc.messages import OfferDlc
from tentenone.dlc.protocol.closing import (
    accept_close,
    build_close_offer,
    check_liquidation,
    complete_close,
    finish_close,
    offer_payout_at,
)
from tentenone.dlc.protocol.errors import (
    InvalidCloseSignature,
    InvalidRenewalSignature,
    OfferTermsMismatch,
    QuoteExpired,
)
from tentenone.dlc.protocol.messages import (
    CloseReason,
    Reject,
    message_json,
    parse_protocol_message,
)
from tentenone.dlc.protocol.opening import (
    accept_offer,
    build_offer,
    complete_funding,
    sign_accept,
)
from tentenone.dlc.protocol.renewal import (
    accept_renewal,
    build_renew_offer,
    complete_renewal,
    finalize_renewal,
    sign_renewal,
)
from tentenone.dlc.protocol.settlement import complete_cet, refund_transaction
from tentenone.dlc.protocol.signed import SignedContract
from tentenone.dlc.protocol.signer import KeyInputSigner
from tentenone.dlc.protocol.terms import TradeTerms, build_contract, check_offer_terms
from tentenone.dlc.protocol.testing import (
    TestOracle,
    key,
    party_funding,
    prev_tx_coin,
    pubkey,
    sample_terms,
)
from tentenone.dlc.signing import Signer
from tentenone.dlc.transactions import verify_p2wpkh_witness
from tentenone.dlc.validation import InvalidAdaptorSignature, ValidationPolicy

CHAIN = bytes(32)
POLICY = ValidationPolicy(chain_hashes=frozenset({CHAIN}))
MATURITY = 1_800_000_000


@dataclass
class Opened:
    oracle: TestOracle
    terms: TradeTerms
    offer: OfferDlc
    coordinator: SignedContract
    trader: SignedContract
    funding_tx: Transaction


def _offer(oracle: TestOracle, terms: TradeTerms) -> OfferDlc:
    info, curve = build_contract(terms, oracle.announce(terms.event_id, MATURITY))
    return build_offer(
        info,
        curve.offer_collateral,
        party_funding("coordinator", 1),
        chain_hash=CHAIN,
        fee_rate=2,
        cet_locktime=100,
        refund_locktime=1_000,
    )


def _open(side: Side = Side.LONG) -> Opened:
    oracle = TestOracle()
    terms = sample_terms(oracle, "btcusd-1", side=side)
    offer = _offer(oracle, terms)
    # wire round trip, as the trader receives it
    offer = OfferDlc.parse(offer.serialize())
    check_offer_terms(offer, terms)
    accept, accepted = accept_offer(offer, POLICY, party_funding("trader", 2), key("trader fund"))
    sign, coordinator = sign_accept(
        offer,
        accept,
        POLICY,
        key("coordinator fund"),
        KeyInputSigner([key("coordinator wallet")]),
    )
    funding_tx, trader = complete_funding(
        accepted, sign, POLICY, KeyInputSigner([key("trader wallet")])
    )
    return Opened(oracle, terms, offer, coordinator, trader, funding_tx)


@pytest.fixture(scope="module")
def opened() -> Opened:
    return _open()


def test_open_gives_a_fully_witnessed_funding_tx(opened: Opened) -> None:
    tx = opened.funding_tx
    wallets = {pubkey(key("coordinator wallet")), pubkey(key("trader wallet"))}
    assert {txin.witness[1] for txin in tx.inputs} == wallets
    for index, txin in enumerate(tx.inputs):
        spk = p2wpkh(txin.witness[1])
        assert verify_p2wpkh_witness(tx, index, 5_000_000, spk, txin.witness), index
    assert opened.coordinator.contract_id == opened.trader.contract_id
    assert tx.txid() == opened.coordinator.funding.tx.txid()


def test_offer_with_other_terms_is_refused(opened: Opened) -> None:
    for change, why in (
        ({"quantity": 2_000}, "margin"),
        ({"trader_leverage": opened.terms.trader_leverage * 2}, "trader margin"),
        ({"fee": 501}, "payout curve"),
        ({"event_id": "btcusd-2"}, "expiry event"),
        ({"trader_side": Side.SHORT}, "payout curve"),
    ):
        with pytest.raises(OfferTermsMismatch, match=why):
            check_offer_terms(opened.offer, replace(opened.terms, **change))  # type: ignore[arg-type]


def test_tampered_accept_signature_is_refused(opened: Opened) -> None:
    offer = opened.offer
    accept, _ = accept_offer(offer, POLICY, party_funding("trader", 2), key("trader fund"))
    sigs = list(accept.cet_adaptor_signatures)
    sigs[3] = sigs[4]
    bad = replace(accept, cet_adaptor_signatures=tuple(sigs))
    with pytest.raises(InvalidAdaptorSignature, match="adaptor signature 3"):
        sign_accept(
            offer, bad, POLICY, key("coordinator fund"), KeyInputSigner([key("coordinator wallet")])
        )


@pytest.mark.parametrize("price", [10_000, 49_000, 50_000, 52_345, 90_000])
def test_both_sides_complete_the_same_cet(opened: Opened, price: int) -> None:
    attestation = opened.oracle.attest("btcusd-1", price)
    c_tx, c_exec = complete_cet(
        opened.coordinator, Signer.OFFERER, key("coordinator fund"), [attestation], POLICY.hashing
    )
    t_tx, t_exec = complete_cet(
        opened.trader, Signer.ACCEPTER, key("trader fund"), [attestation], POLICY.hashing
    )
    assert c_tx.txid() == t_tx.txid()
    assert c_exec.cet_index == t_exec.cet_index
    payout = opened.coordinator.contract.plan.payouts[c_exec.cet_index]
    assert payout.offer == offer_payout_at(opened.coordinator.contract.contract_info, price)
    paid = {o.script_pubkey: o.value for o in c_tx.outputs}
    trader_spk = p2wpkh(pubkey(key("trader payout")))
    assert paid.get(trader_spk, 0) == (payout.accept if payout.accept >= 1000 else 0)
    assert len(c_tx.inputs[0].witness) == 4


def test_refund_needs_no_secret(opened: Opened) -> None:
    a = refund_transaction(opened.coordinator)
    b = refund_transaction(opened.trader)
    assert a.serialize() == b.serialize()
    assert a.locktime == 1_000
    assert sum(o.value for o in a.outputs) == opened.coordinator.total_collateral


def test_close_flow_and_expiry(opened: Opened) -> None:
    payout = offer_payout_at(opened.coordinator.contract.contract_info, 51_000)
    close = build_close_offer(opened.coordinator, payout, price=51_000, expires_at=2_000)
    close = type(close).parse(close.serialize())
    answer = accept_close(opened.trader, close, key("trader fund"), now=1_999)
    confirm, tx = complete_close(
        opened.coordinator, close, answer, key("coordinator fund"), now=2_000
    )
    assert finish_close(opened.trader, close, confirm, key("trader fund")).serialize() == (
        tx.serialize()
    )
    assert sum(o.value for o in tx.outputs) == opened.coordinator.total_collateral
    with pytest.raises(QuoteExpired):
        complete_close(opened.coordinator, close, answer, key("coordinator fund"), now=2_001)
    forged = replace(answer, accept_signature=confirm.offer_signature)
    with pytest.raises(InvalidCloseSignature):
        complete_close(opened.coordinator, close, forged, key("coordinator fund"), now=1)
    liquidation = build_close_offer(
        opened.coordinator, 0, price=1, expires_at=10, reason=CloseReason.LIQUIDATION
    )
    assert liquidation.accept_payout == opened.coordinator.total_collateral


def test_a_trader_signs_a_liquidation_only_past_its_liquidation_price(opened: Opened) -> None:
    # the trader is long: the coordinator's payout is highest where the trader's is clamped
    info = opened.trader.contract.contract_info
    crashed = 1_000
    fair = offer_payout_at(info, crashed)
    past = build_close_offer(
        opened.coordinator, fair, price=crashed, expires_at=10, reason=CloseReason.LIQUIDATION
    )
    check_liquidation(opened.trader, past)
    # the price never crossed: a "liquidation" at the entry price is refused with the reason
    entry = 50_000
    early = build_close_offer(
        opened.coordinator,
        offer_payout_at(info, entry),
        price=entry,
        expires_at=10,
        reason=CloseReason.LIQUIDATION,
    )
    with pytest.raises(ContractError, match="has not crossed the liquidation price"):
        check_liquidation(opened.trader, early)


def test_renewal_then_settlement_of_the_new_contract(opened: Opened) -> None:
    old_c, old_t = opened.coordinator, opened.trader
    terms = replace(opened.terms, event_id="btcusd-2", fee=opened.terms.fee + 300)
    info, curve = build_contract(terms, opened.oracle.announce("btcusd-2", MATURITY + 604_800))
    offer = build_renew_offer(
        old_c,
        info,
        curve.offer_collateral,
        funding_pubkey=pubkey(key("coordinator fund 2")),
        payout_spk=p2wpkh(pubkey(key("coordinator payout"))),
        fee_inputs=(prev_tx_coin(key("coordinator wallet"), 100_000, 3),),
        change_spk=p2wpkh(pubkey(key("coordinator wallet"))),
        fee_rate=2,
        cet_locktime=100,
        refund_locktime=2_000,
        expires_at=5_000,
    )
    offer = type(offer).parse(offer.serialize())
    accept, _ = accept_renewal(
        old_t, offer, POLICY, key("trader fund 2"), p2wpkh(pubkey(key("trader payout"))), now=1
    )
    sign, _ = sign_renewal(
        old_c,
        offer,
        accept,
        POLICY,
        key("coordinator fund 2"),
        key("coordinator fund"),
        KeyInputSigner([key("coordinator wallet")]),
    )
    bad_sign = replace(sign, renewal_signature=accept.refund_signature)
    with pytest.raises(InvalidRenewalSignature):
        finalize_renewal(old_t, offer, accept, bad_sign, POLICY, key("trader fund"))
    finalize, new_t, tx_t = finalize_renewal(old_t, offer, accept, sign, POLICY, key("trader fund"))
    new_c, tx_c = complete_renewal(old_c, offer, accept, sign, finalize, POLICY)
    assert tx_t.serialize() == tx_c.serialize()
    assert tx_c.inputs[0].outpoint == old_c.funding_outpoint
    assert new_c.contract_id == new_t.contract_id != old_c.contract_id
    attestation = opened.oracle.attest("btcusd-2", 47_000)
    a, _ = complete_cet(
        new_c, Signer.OFFERER, key("coordinator fund 2"), [attestation], POLICY.hashing
    )
    b, _ = complete_cet(new_t, Signer.ACCEPTER, key("trader fund 2"), [attestation], POLICY.hashing)
    assert a.txid() == b.txid()
    assert a.inputs[0].outpoint == new_c.funding_outpoint


def test_tampered_renew_accept_is_refused(opened: Opened) -> None:
    info, curve = build_contract(
        replace(opened.terms, event_id="btcusd-3"), opened.oracle.announce("btcusd-3", MATURITY)
    )
    offer = build_renew_offer(
        opened.coordinator,
        info,
        curve.offer_collateral,
        funding_pubkey=pubkey(key("c3")),
        payout_spk=p2wpkh(pubkey(key("coordinator payout"))),
        fee_inputs=(prev_tx_coin(key("coordinator wallet"), 100_000, 4),),
        change_spk=p2wpkh(pubkey(key("coordinator wallet"))),
        fee_rate=2,
        cet_locktime=100,
        refund_locktime=2_000,
        expires_at=5_000,
    )
    accept, _ = accept_renewal(
        opened.trader, offer, POLICY, key("t3"), p2wpkh(pubkey(key("trader payout"))), now=1
    )
    bad = replace(accept, cet_adaptor_signatures=tuple(reversed(accept.cet_adaptor_signatures)))
    with pytest.raises(InvalidAdaptorSignature):
        sign_renewal(
            opened.coordinator,
            offer,
            bad,
            POLICY,
            key("c3"),
            key("coordinator fund"),
            KeyInputSigner([key("coordinator wallet")]),
        )


def test_every_message_parses_back_and_has_a_json_view(opened: Opened) -> None:
    reject = Reject(1, bytes(32), "dlc_offer_terms_mismatch", "fee differs")
    for message in (opened.offer, reject):
        again = parse_protocol_message(message.serialize())
        assert again == message
        assert message_json(again)["type"] in {"offer_dlc", "reject"}
