"""The protocol's transactions against Bitcoin Core's rules, on a real devnet node:
funding, CET, refund (only after its locktime), collaborative close, renewal and
the renewed contract's CET."""

from __future__ import annotations

from typing import Any

import pytest

from tentenone.bitcoin.script import p2wpkh, script_pubkey_to_address
from tentenone.bitcoin.tx import Transaction
from tentenone.dlc.messages import FundingInput
from tentenone.dlc.protocol.closing import (
    accept_close,
    build_close_offer,
    complete_close,
    offer_payout_at,
)
from tentenone.dlc.protocol.opening import (
    PartyFunding,
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
from tentenone.dlc.protocol.signer import KeyInputSigner
from tentenone.dlc.protocol.terms import build_contract, check_offer_terms
from tentenone.dlc.protocol.testing import TestOracle, key, pubkey, sample_terms
from tentenone.dlc.signing import Signer
from tentenone.dlc.validation import ValidationPolicy

pytest.importorskip("tentenone_devnet.testing")

POLICY = ValidationPolicy(chain_hashes=frozenset({bytes(32)}))


def _coin(net: Any, label: str, sats: int) -> FundingInput:
    spk = p2wpkh(pubkey(key(label)))
    txid, vout = net.fund(script_pubkey_to_address(spk, "regtest"), sats, confirm=True)
    raw = bytes.fromhex(net.rpc.call("getrawtransaction", txid))
    return FundingInput(0, raw, vout, 0xFFFFFFFF, 108)


def _accepts(net: Any, tx: Transaction) -> tuple[bool, str]:
    [verdict] = net.rpc.call("testmempoolaccept", [tx.serialize().hex()])
    return bool(verdict["allowed"]), str(verdict.get("reject-reason", ""))


def _send(net: Any, tx: Transaction) -> None:
    net.rpc.call("sendrawtransaction", tx.serialize().hex())
    net.mine(1)


def _funding(net: Any, who: str, sats: int) -> PartyFunding:
    return PartyFunding(
        pubkey(key(f"{who} fund")),
        p2wpkh(pubkey(key(f"{who} payout"))),
        p2wpkh(pubkey(key(f"{who} wallet"))),
        (_coin(net, f"{who} wallet", sats),),
    )


def test_every_protocol_transaction_is_valid_on_the_devnet(devnet: Any) -> None:
    net = devnet
    height = int(net.rpc.call("getblockcount"))
    oracle = TestOracle()
    terms = sample_terms(oracle, "devnet-1")
    info, curve = build_contract(terms, oracle.announce("devnet-1", 1_800_000_000))
    offer = build_offer(
        info,
        curve.offer_collateral,
        _funding(net, "coordinator", 3_000_000),
        chain_hash=bytes(32),
        fee_rate=2,
        cet_locktime=height,
        refund_locktime=height + 20,
    )
    check_offer_terms(offer, terms)
    accept, accepted = accept_offer(
        offer, POLICY, _funding(net, "trader", 3_000_000), key("trader fund")
    )
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
    _send(net, funding_tx)

    attestation = oracle.attest("devnet-1", 47_000)
    cet, _ = complete_cet(
        trader, Signer.ACCEPTER, key("trader fund"), [attestation], POLICY.hashing
    )
    assert _accepts(net, cet) == (True, "")
    ok, why = _accepts(net, refund_transaction(coordinator))
    assert not ok and "non-final" in why  # the refund waits for its locktime

    now = 1_700_000_000
    payout = offer_payout_at(info, 51_000)
    close = build_close_offer(coordinator, payout, price=51_000, expires_at=now + 30)
    answer = accept_close(trader, close, key("trader fund"), now=now)
    _, closing = complete_close(coordinator, close, answer, key("coordinator fund"), now=now)
    assert _accepts(net, closing) == (True, "")

    # rollover: the renewal spends the funding output; the new CET spends the renewal
    next_info, next_curve = build_contract(
        sample_terms(oracle, "devnet-2"), oracle.announce("devnet-2", 1_800_604_800)
    )
    renew = build_renew_offer(
        coordinator,
        next_info,
        next_curve.offer_collateral,
        funding_pubkey=pubkey(key("coordinator fund 2")),
        payout_spk=p2wpkh(pubkey(key("coordinator payout"))),
        fee_inputs=(_coin(net, "coordinator wallet", 50_000),),
        change_spk=p2wpkh(pubkey(key("coordinator wallet"))),
        fee_rate=2,
        cet_locktime=height,
        refund_locktime=height + 40,
        expires_at=now + 60,
    )
    renew_accept, _ = accept_renewal(
        trader, renew, POLICY, key("trader fund 2"), p2wpkh(pubkey(key("trader payout"))), now=now
    )
    renew_sign, _ = sign_renewal(
        coordinator,
        renew,
        renew_accept,
        POLICY,
        key("coordinator fund 2"),
        key("coordinator fund"),
        KeyInputSigner([key("coordinator wallet")]),
    )
    finalize, new_trader, renewal = finalize_renewal(
        trader, renew, renew_accept, renew_sign, POLICY, key("trader fund")
    )
    new_coordinator, same = complete_renewal(
        coordinator, renew, renew_accept, renew_sign, finalize, POLICY
    )
    assert same.serialize() == renewal.serialize()
    _send(net, renewal)
    assert _accepts(net, closing)[0] is False  # the old funding output is gone
    new_cet, _ = complete_cet(
        new_coordinator,
        Signer.OFFERER,
        key("coordinator fund 2"),
        [oracle.attest("devnet-2", 60_000)],
        POLICY.hashing,
    )
    assert _accepts(net, new_cet) == (True, "")
    net.mine(45)
    assert _accepts(net, refund_transaction(new_trader)) == (True, "")
