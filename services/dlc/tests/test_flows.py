"""The coordinator's flows on PostgreSQL and RabbitMQ, driven by a trader on the protocol layer."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from dlc_world import POLICY, Start, Trader, World

from tentenone.bitcoin.script import p2wpkh
from tentenone.dlc.messages import AcceptDlc, OfferDlc, SignDlc
from tentenone.dlc.protocol.closing import accept_close, offer_payout_at
from tentenone.dlc.protocol.messages import CloseOffer, CloseReason, Reject, RenewOffer, RenewSign
from tentenone.dlc.protocol.renewal import accept_renewal, finalize_renewal
from tentenone.dlc.protocol.settlement import complete_cet
from tentenone.dlc.protocol.testing import key, pubkey
from tentenone.dlc.signing import Signer, to_tx_inputs
from tentenone.errors import ConflictError, ProtocolError, TentenoneError
from tentenone.testing import wait_until
from tentenone.wire import dlc as wire
from tentenone.wire.oracle import OracleAttested
from tentenone_dlc.models import Contract


def _codes(exc: BaseException) -> str:
    """The error's code: the bus raises the remote error's own class where it knows it."""
    return str(getattr(exc, "remote_code", getattr(exc, "code", "")))


async def test_open_then_settle_by_attestation(start: Start) -> None:
    world = await start(
        watch=["dlc.offered", "dlc.accepted", "dlc.signed", "position.opened", "position.settled"]
    )
    trader = Trader(world, "alice")
    position_id = await trader.open()
    position = await trader.position(position_id)
    assert position.funding_txid == trader.funding_tx.txid_hex()  # type: ignore[union-attr]
    assert position.trader_margin_sat > 0 and position.coordinator_margin_sat > 0
    for kind in ("dlc.offered", "dlc.accepted", "dlc.signed", "position.opened"):
        await wait_until(lambda kind=kind: world.steps(kind), 20, what=kind)

    attestation = world.oracle.oracle.attest("btcusd-1", 52_000)
    await world.bus.publish(
        OracleAttested(
            oracle="oracle",
            event_id="btcusd-1",
            oracle_public_key=world.oracle.oracle.public_key.hex(),
            maturity=position.expiry,
            outcome="52000",
            values=list(attestation.outcomes),
            signatures=[s.hex() for s in attestation.signatures],
            attested_at=position.expiry,
            attestation_tlv=attestation.serialize().hex(),
        )
    )
    settling = await trader.wait_state(position_id, "closing")
    await world.mine_when_sent(settling.closing_txid)
    settled = await trader.wait_state(position_id, "settled")
    # the trader's P&L at 52,000 from the contract's own payout (long: gains)
    assert trader.signed is not None
    info = trader.signed.contract.contract_info
    trader_payout = info.total_collateral - offer_payout_at(info, 52_000)
    assert settled.pnl.realized_pnl_sat == trader_payout - settled.trader_margin_sat
    assert settled.pnl.realized_pnl_sat > 0
    await wait_until(lambda: world.steps("position.settled"), 20, what="position.settled")
    assert world.steps("position.settled")[0].realized_pnl_sat == settled.pnl.realized_pnl_sat


async def test_early_close_and_expired_quote(start: Start) -> None:
    world = await start(close_quote_ttl_s=60)
    trader = Trader(world, "bob")
    position_id = await trader.open()
    world.oracle.price_cents = 4_800_000
    quote = await trader.rpc(wire.REQUEST_CLOSE_QUOTE, position_id=position_id)
    assert quote.price_cents == 4_800_000 and quote.realized_pnl_sat < 0
    _, close = await trader.next_message("close_offer")
    assert isinstance(close, CloseOffer) and close.close_id.hex() == quote.quote_id
    await trader.close(position_id, close)
    _, confirm = await trader.next_message("close_confirm")
    closing = await trader.wait_state(position_id, "closing")
    # a replay of the close_accept changes nothing
    await trader.close(position_id, close)
    await world.mine_when_sent(closing.closing_txid)
    closed = await trader.wait_state(position_id, "closed")
    assert closed.pnl.realized_pnl_sat == quote.realized_pnl_sat
    del confirm


async def test_liquidation_is_proposed_when_the_price_crosses(start: Start) -> None:
    world = await start(watch=["position.liquidated"])
    trader = Trader(world, "carol")
    position_id = await trader.open()
    position = await trader.position(position_id)
    assert position.liquidation_price_cents is not None
    from tentenone.wire.oracle import IndexPriceUpdated

    price = position.liquidation_price_cents - 100_000
    await world.bus.publish(
        IndexPriceUpdated(oracle="oracle", price_cents=price, at=position.expiry, quotes=[])
    )
    _, close = await trader.next_message("close_offer")
    assert isinstance(close, CloseOffer) and close.reason == CloseReason.LIQUIDATION
    assert close.accept_payout == 0  # clamped: the trader's whole margin goes
    await trader.close(position_id, close)
    await wait_until(lambda: world.steps("position.liquidated"), 20, what="liquidation event")


async def test_refund_at_the_locktime(start: Start) -> None:
    world = await start()
    trader = Trader(world, "dave")
    position_id = await trader.open()
    assert trader.signed is not None
    world.chain.height = trader.signed.txs.refund.locktime
    refunding = await trader.wait_state(position_id, "closing")
    assert refunding.closing_txid == trader.signed.txs.refund.txid_hex()
    await world.mine_when_sent(refunding.closing_txid)
    refunded = await trader.wait_state(position_id, "refunded")
    assert refunded.pnl.realized_pnl_sat == 0


async def test_tampered_accept_is_refused_and_the_match_released(start: Start) -> None:
    world = await start(watch=["dlc.released"])
    trader = Trader(world, "erin")
    await world.match(trader)
    position_id, offer = await trader.next_message("offer_dlc")
    assert isinstance(offer, OfferDlc)
    accept = await trader.accept(offer)
    sigs = list(accept.cet_adaptor_signatures)
    sigs[0], sigs[1] = sigs[1], sigs[0]
    with pytest.raises(TentenoneError) as caught:
        await trader.submit(
            position_id,
            dataclasses.replace(accept, cet_adaptor_signatures=tuple(sigs)),
            "accept_dlc",
        )
    assert _codes(caught.value) == "dlc_invalid_adaptor_signature"
    released = await trader.wait_state(position_id, "cancelled")
    assert "dlc_invalid_adaptor_signature" in released.note
    await wait_until(lambda: not world.wallet.locked, 10, what="coins back")  # nothing funded
    _, reject = await trader.next_message("reject")
    assert isinstance(reject, Reject) and reject.code == "dlc_invalid_adaptor_signature"
    assert world.steps("dlc.released")
    # the real accept after the release: refused, out of order
    with pytest.raises(TentenoneError) as again:
        await trader.submit(position_id, accept, "accept_dlc")
    assert _codes(again.value) == "dlc_unexpected_message"


@pytest.mark.parametrize("tamper", ["refund", "spent_input"])
async def test_other_bad_accepts(start: Start, tamper: str) -> None:
    world = await start()
    trader = Trader(world, f"frank-{tamper}")
    await world.match(trader)
    position_id, offer = await trader.next_message("offer_dlc")
    assert isinstance(offer, OfferDlc)
    accept: AcceptDlc = await trader.accept(offer)
    if tamper == "refund":
        accept = dataclasses.replace(accept, refund_signature=accept.cet_adaptor_signatures[0][:64])
        expected = "dlc_invalid_refund_signature"
    else:
        world.chain.spent.add(to_tx_inputs(accept.funding_inputs)[0].outpoint)
        expected = "dlc_funding_input_spent"
    with pytest.raises(TentenoneError) as caught:
        await trader.submit(position_id, accept, "accept_dlc")
    assert _codes(caught.value) == expected
    await trader.wait_state(position_id, "cancelled")
    await wait_until(lambda: not world.wallet.locked, 10, what="coins back")


async def test_replayed_accept_is_idempotent_and_another_refused(start: Start) -> None:
    world = await start(signing_workers=2)  # verification and signing over processes
    trader = Trader(world, "grace")
    await world.match(trader)
    position_id, offer = await trader.next_message("offer_dlc")
    assert isinstance(offer, OfferDlc)
    accept = await trader.accept(offer)
    first = await trader.submit(position_id, accept, "accept_dlc")
    again = await trader.submit(position_id, accept, "accept_dlc")
    assert first.version == again.version and again.state == "signed"
    other = await trader.accept(offer)
    with pytest.raises(TentenoneError) as caught:
        await trader.submit(position_id, other, "accept_dlc")
    assert _codes(caught.value) == "dlc_unexpected_message"
    # a close_accept before any close offer: out of order
    with pytest.raises(TentenoneError):
        await trader.submit(position_id, Reject(1, bytes(32), "x", "y"), "sign_dlc")


async def test_unanswered_offer_is_released_after_the_timeout(start: Start) -> None:
    world = await start(offer_timeout_s=1.0)
    trader = Trader(world, "heidi")
    await world.match(trader)
    position_id, _ = await trader.next_message("offer_dlc")
    released = await trader.wait_state(position_id, "cancelled")
    assert "timed out" in released.note
    await wait_until(lambda: not world.wallet.locked, 10, what="coins back")


async def test_signed_but_never_funded_is_invalidated_then_released(start: Start) -> None:
    world = await start(offer_timeout_s=8.0)
    trader = Trader(world, "ivan")
    await world.match(trader)
    position_id, offer = await trader.next_message("offer_dlc")
    assert isinstance(offer, OfferDlc)
    await trader.submit(position_id, await trader.accept(offer), "accept_dlc")
    # the trader never broadcasts; our coins stay locked until our input is spent elsewhere
    await wait_until(
        lambda: len([t for t in world.chain.txs if world.chain.txs[t] is None]) == 1, 20
    )
    assert world.wallet.locked
    world.chain.mine()
    released = await trader.wait_state(position_id, "cancelled")
    assert "can no longer confirm" in released.note
    await wait_until(lambda: not world.wallet.locked, 10, what="coins back")


async def test_an_invalidation_sent_but_not_stored_is_found_on_the_chain(start: Start) -> None:
    """As if killed at dlc.coordinator.release.after_invalidate: the double spend is out but
    its txid was never stored. The release waits for the one on the chain, sends no other."""
    world = await start(offer_timeout_s=4.0)
    trader = Trader(world, "ivo")
    await world.match(trader)
    position_id, offer = await trader.next_message("offer_dlc")
    assert isinstance(offer, OfferDlc)
    await trader.submit(position_id, await trader.accept(offer), "accept_dlc")
    await wait_until(lambda: len(world.wallet.invalidated) == 1, 20, what="the double spend")
    [sent] = [t for t in world.chain.txs if world.chain.txs[t] is None]
    coordinator = world.coordinator()
    async with coordinator.ctx.transaction() as s:
        row = await s.get(Contract, position_id)
        assert row is not None and row.invalidation_txid == sent
        row.invalidation_txid = None

    async def found_again() -> bool:
        return (await world.contract(position_id)).invalidation_txid is not None

    await wait_until(found_again, 20, what="the txid found again")
    assert (await world.contract(position_id)).invalidation_txid == sent
    world.chain.mine()
    released = await trader.wait_state(position_id, "cancelled")
    assert "can no longer confirm" in released.note
    assert len(world.wallet.invalidated) == 1
    await wait_until(lambda: not world.wallet.locked, 10, what="coins back")


async def test_reorg_below_depth_returns_to_funding(start: Start) -> None:
    world = await start(funding_depth=2)
    trader = Trader(world, "judy")
    await world.match(trader)
    position_id, offer = await trader.next_message("offer_dlc")
    assert isinstance(offer, OfferDlc)
    await trader.submit(position_id, await trader.accept(offer), "accept_dlc")
    _, sign = await trader.next_message("sign_dlc")
    tx = trader.fund(sign)  # type: ignore[arg-type]
    await world.chain.broadcast(tx.serialize())
    await trader.wait_state(position_id, "funding")
    world.chain.mine(2)
    await trader.wait_state(position_id, "open")
    world.chain.drop(tx.txid_hex())
    await trader.wait_state(position_id, "signed")
    await world.chain.broadcast(tx.serialize())
    world.chain.mine(2)
    await trader.wait_state(position_id, "open")


async def test_backups_are_monotonic_and_state_number_counts_events(start: Start) -> None:
    world = await start()
    trader = Trader(world, "ken")
    info = await trader.rpc(wire.PUT_BACKUP, version=2, data_b64="aGVsbG8=")
    assert info.version == 2 and info.size_bytes == 5
    assert (await trader.rpc(wire.PUT_BACKUP, version=2, data_b64="aGVsbG8=")).version == 2
    for version, data in ((1, "b2xk"), (2, "b3RoZXI=")):
        with pytest.raises(TentenoneError) as caught:
            await trader.rpc(wire.PUT_BACKUP, version=version, data_b64=data)
        assert _codes(caught.value) == "stale_backup"
    backup = await trader.rpc(wire.GET_BACKUP)
    assert backup.data_b64 == "aGVsbG8=" and backup.version == 2
    assert (await trader.rpc(wire.GET_STATE_NUMBER)).state_number == 0
    position_id = await trader.open()
    listed = await trader.rpc(wire.LIST_POSITIONS)
    assert [p.position_id for p in listed.positions] == [position_id]
    # created, updated (signed), opened: one state number each
    assert listed.state_number == (await trader.rpc(wire.GET_STATE_NUMBER)).state_number == 3
    other = Trader(world, "mallory")
    with pytest.raises(TentenoneError) as caught:
        await other.rpc(wire.GET_POSITION, position_id=position_id)
    assert _codes(caught.value) == "not_found"


def test_error_families() -> None:
    from tentenone_dlc.coordinator import FundingInputSpent

    assert issubclass(FundingInputSpent, ProtocolError)
    from tentenone.dlc.protocol.errors import UnexpectedMessage

    assert issubclass(UnexpectedMessage, ConflictError)


async def _roll(world: World, trader: Trader, position_id: str) -> tuple[Any, ...]:
    """The trader's half of a rollover up to renew_sign (verified)."""
    assert trader.signed is not None
    await trader.rpc(wire.REQUEST_ROLLOVER, position_id=position_id)
    _, renew = await trader.next_message("renew_offer")
    assert isinstance(renew, RenewOffer)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    accept, _ = accept_renewal(
        trader.signed, renew, POLICY, key("renewed fund"), p2wpkh(pubkey(key("t payout"))), now=now
    )
    await trader.submit(position_id, accept, "renew_accept")
    _, sign = await trader.next_message("renew_sign")
    assert isinstance(sign, RenewSign)
    finalize, new_signed, renewal = finalize_renewal(
        trader.signed, renew, accept, sign, POLICY, trader.fund_secret
    )
    return renew, finalize, new_signed, renewal


async def test_rollover_then_settlement_of_the_renewed_contract(start: Start) -> None:
    world = await start(watch=["position.rolled_over"])
    trader = Trader(world, "olivia")
    position_id = await trader.open()
    renew, finalize, new_signed, renewal = await _roll(world, trader, position_id)
    rolling = await trader.wait_state(position_id, "rolling_over")
    assert rolling.state == "rolling_over"
    await trader.submit(position_id, finalize, "renew_finalize")
    await wait_until(lambda: renewal.txid_hex() in world.chain.txs, 20, what="renewal broadcast")
    world.chain.mine()
    old = await trader.wait_state(position_id, "closed")
    assert "rolled over" in old.note
    listed = await trader.rpc(wire.LIST_POSITIONS, status="active")
    [new] = listed.positions
    assert new.contract_id == new_signed.contract_id.hex()
    await trader.wait_state(new.position_id, "open")
    assert world.steps("position.rolled_over")
    assert (
        new.market
        == renew.contract_info.events[0].oracle_info.announcements[0].oracle_event.event_id
    )
    # the renewed contract settles like any other
    attestation = world.oracle.oracle.attest(new.market, 55_000)
    await world.bus.publish(
        OracleAttested(
            oracle="oracle",
            event_id=new.market,
            oracle_public_key=world.oracle.oracle.public_key.hex(),
            maturity=new.expiry,
            outcome="55000",
            values=list(attestation.outcomes),
            signatures=[s.hex() for s in attestation.signatures],
            attested_at=new.expiry,
            attestation_tlv=attestation.serialize().hex(),
        )
    )
    settling = await trader.wait_state(new.position_id, "closing")
    await world.mine_when_sent(settling.closing_txid)
    settled = await trader.wait_state(new.position_id, "settled")
    assert settled.pnl.realized_pnl_sat is not None and settled.pnl.realized_pnl_sat > 0


async def test_rollover_stopped_half_way_leaves_the_old_position_open(start: Start) -> None:
    world = await start(offer_timeout_s=8.0)
    trader = Trader(world, "peggy")
    position_id = await trader.open()
    _renew, _finalize, _new, renewal = await _roll(world, trader, position_id)
    # the trader goes away before renew_finalize: our fee input is spent elsewhere
    await wait_until(lambda: len(world.wallet.invalidated) == 1, 30, what="fee input spent")
    world.chain.mine()
    back = await trader.wait_state(position_id, "open", within=30)
    assert "rollover abandoned" in back.note
    cancelled = [
        p for p in (await trader.rpc(wire.LIST_POSITIONS)).positions if p.state == "cancelled"
    ]
    assert len(cancelled) == 1
    assert renewal.txid_hex() not in world.chain.txs
    # and the old contract can roll over again
    await trader.rpc(wire.REQUEST_ROLLOVER, position_id=position_id)
    await trader.wait_state(position_id, "rolling_over")


async def test_a_cet_the_trader_broadcast_is_followed_to_settlement(start: Start) -> None:
    """The attestation never reached the coordinator; the trader settled alone."""
    world = await start()
    trader = Trader(world, "quentin")
    position_id = await trader.open()
    assert trader.signed is not None
    attestation = world.oracle.oracle.attest("btcusd-1", 45_000)
    cet, _ = complete_cet(
        trader.signed, Signer.ACCEPTER, trader.fund_secret, [attestation], POLICY.hashing
    )
    await world.chain.broadcast(cet.serialize())
    world.chain.mine()
    settled = await trader.wait_state(position_id, "settled")
    assert settled.closing_txid == cet.txid_hex()
    assert settled.pnl.realized_pnl_sat is not None and settled.pnl.realized_pnl_sat < 0


@pytest.mark.slow
async def test_a_production_size_contract_crosses_the_bus(start: Start) -> None:
    """Thousands of adaptor signatures: megabyte messages over RPC; the event that
    announces the sign_dlc leaves its bytes out (outbox limit) and the list has them."""
    world = await start(max_cets=800, watch=["dlc.protocol_message"])
    trader = Trader(world, "rupert")
    trader.max_cets = 800
    await world.match(trader)
    position_id, offer = await trader.next_message("offer_dlc", within=60)
    assert isinstance(offer, OfferDlc)
    accept = await trader.accept(offer)
    assert len(accept.serialize()) > 400_000
    try:
        await trader.submit(position_id, accept, "accept_dlc")
    except TentenoneError as exc:
        # on a loaded machine the verification may outlast the RPC: it goes on
        assert exc.code in {"rpc_timeout", "remote_error", "unavailable"}, exc.code
    _, sign = await trader.next_message("sign_dlc", within=180)
    assert isinstance(sign, SignDlc)
    await wait_until(
        lambda: any(e.message_type == "sign_dlc" for e in world.steps("dlc.protocol_message")),
        30,
    )
    [event] = [e for e in world.steps("dlc.protocol_message") if e.message_type == "sign_dlc"]
    assert event.payload_hex == "" and event.view["omitted"] is True
    await world.chain.broadcast(trader.fund(sign).serialize())
    world.chain.mine()
    await trader.wait_state(position_id, "open", within=30)


async def test_a_close_quote_not_signed_in_time_expires(start: Start) -> None:
    world = await start(close_quote_ttl_s=1.0)
    trader = Trader(world, "sybil")
    position_id = await trader.open()
    await trader.rpc(wire.REQUEST_CLOSE_QUOTE, position_id=position_id)
    _, close = await trader.next_message("close_offer")
    assert isinstance(close, CloseOffer)
    assert (await world.contract(position_id)).close_offer_hex == close.serialize().hex()

    async def reopened() -> bool:
        return (await trader.position(position_id)).note == "open"

    await wait_until(reopened, 20, what="the quote's expiry")
    # a close_accept signed in time but arriving after the expiry: refused, nothing sent
    assert trader.signed is not None
    late = accept_close(trader.signed, close, trader.fund_secret, now=close.expires_at - 1)
    with pytest.raises(TentenoneError) as caught:
        await trader.submit(position_id, late, "close_accept")
    assert _codes(caught.value) == "dlc_unexpected_message"
    assert not [t for t in world.chain.txs if world.chain.txs[t] is None]


async def test_an_accept_after_the_deadline_is_refused_and_the_match_released(
    start: Start,
) -> None:
    world = await start(offer_timeout_s=1.5, poll_interval_s=60, watch=["dlc.released"])
    trader = Trader(world, "trent")
    await world.match(trader)
    position_id, offer = await trader.next_message("offer_dlc")
    assert isinstance(offer, OfferDlc)
    accept = await trader.accept(offer)
    deadline = (await world.contract(position_id)).deadline
    await wait_until(lambda: dt.datetime.now(dt.UTC) > deadline, 10, what="the deadline")
    with pytest.raises(TentenoneError) as caught:
        await trader.submit(position_id, accept, "accept_dlc")
    assert _codes(caught.value) == "dlc_offer_expired"
    released = await trader.position(position_id)
    assert released.state == "cancelled" and "dlc_offer_expired" in released.note
    await wait_until(lambda: not world.wallet.locked, 10, what="coins back")
    await wait_until(lambda: world.steps("dlc.released"), 20, what="dlc.released")
    assert "dlc_offer_expired" in world.steps("dlc.released")[0].reason
    _, reject = await trader.next_message("reject")
    assert isinstance(reject, Reject) and reject.code == "dlc_offer_expired"


async def test_coins_a_crash_left_locked_after_a_release_are_unlocked_at_start(
    start: Start,
) -> None:
    world = await start(offer_timeout_s=1.0)
    trader = Trader(world, "uma")
    await world.match(trader)
    position_id, _ = await trader.next_message("offer_dlc")
    await trader.wait_state(position_id, "cancelled")
    await wait_until(lambda: not world.wallet.locked, 10, what="coins back")
    # as if killed at dlc.coordinator.release.after_save: released, coins still locked
    coordinator = world.coordinator()
    point = to_tx_inputs([world.wallet.coins[0]])[0].outpoint
    world.wallet.locked[point] = position_id
    async with coordinator.ctx.transaction() as s:
        row = await s.get(Contract, position_id)
        assert row is not None
        row.reserved = f"{point.txid[::-1].hex()}:{point.vout}"
    assert await coordinator.sweep_released() == 1
    assert not world.wallet.locked
    assert await coordinator.sweep_released() == 0


async def test_a_fill_the_coordinator_cannot_fund_is_released_with_the_reason(
    start: Start,
) -> None:
    world = await start(watch=["dlc.released", "dlc.offered"])
    world.wallet.coins = []
    trader = Trader(world, "frank")
    trade_id = await world.match(trader)
    await wait_until(lambda: world.steps("dlc.released"), 20, what="dlc.released")
    [released] = world.steps("dlc.released")
    assert (released.trade_id, released.trader_pubkey) == (trade_id, trader.pubkey_hex)
    assert "wallet_insufficient_funds" in released.reason
    assert world.steps("dlc.offered") == []
    positions = await trader.rpc(wire.LIST_POSITIONS)
    assert positions.positions == []


async def test_a_close_asked_before_our_poll_saw_the_funding_confirm_is_quoted(
    start: Start,
) -> None:
    # no poll between the funding's confirmation and the trader's request: the
    # trader's wallet saw the depth first, and the request looks at the chain itself
    world = await start(poll_interval_s=3600)
    trader = Trader(world, "erin")
    await world.match(trader)
    position_id, offer = await trader.next_message("offer_dlc")
    assert isinstance(offer, OfferDlc)
    await trader.submit(position_id, await trader.accept(offer), "accept_dlc")
    _, sign = await trader.next_message("sign_dlc")
    assert isinstance(sign, SignDlc)
    await world.chain.broadcast(trader.fund(sign).serialize())
    world.chain.mine()
    assert (await trader.position(position_id)).state != "open"
    quote = await trader.rpc(wire.REQUEST_CLOSE_QUOTE, position_id=position_id)
    assert quote.price_cents == world.oracle.price_cents
    assert (await trader.position(position_id)).state == "open"
