"""The DLC service as a real process on the devnet, killed by SIGKILL at its crash
points and restarted: the trade still opens and settles, on chain.

The coordinator runs with its production ports (Electrum chain source, its own
wallet in PostgreSQL). The oracle here is a throwaway RPC service defined in
this file on the real bus (the oracle service's own tests cover the real one);
the trader is the test, on the shared protocol layer.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tentenone.bitcoin.script import p2wpkh, script_pubkey_to_address
from tentenone.bitcoin.tx import parse_transaction
from tentenone.bus import Bus
from tentenone.bus.rpc import RpcCall
from tentenone.chain import Network
from tentenone.crashpoint import CRASH_AT_ENV
from tentenone.dlc.messages import FundingInput, OfferDlc, SignDlc
from tentenone.dlc.protocol.closing import offer_payout_at
from tentenone.dlc.protocol.messages import RenewOffer, RenewSign, parse_protocol_message
from tentenone.dlc.protocol.opening import PartyFunding, accept_offer, complete_funding
from tentenone.dlc.protocol.renewal import accept_renewal, finalize_renewal
from tentenone.dlc.protocol.signer import KeyInputSigner
from tentenone.dlc.protocol.testing import TestOracle, key, pubkey
from tentenone.dlc.validation import ValidationPolicy
from tentenone.market.schedule import ExpirySchedule
from tentenone.testing import wait_until
from tentenone.testing.processes import PythonProcess
from tentenone.wallet import AddressKind, WalletAccount, generate_mnemonic
from tentenone.wire import dlc as wire
from tentenone.wire.oracle import (
    GET_ANNOUNCEMENT,
    GET_INDEX_PRICE,
    Announcement,
    EventIdRequest,
    IndexPrice,
    NoArguments,
    OracleAttested,
)
from tentenone_dlc.settings import DlcSettings

pytest.importorskip("tentenone_devnet.testing")
pytestmark = pytest.mark.slow

Spawn = Callable[..., PythonProcess]
POLICY = ValidationPolicy(chain_hashes=frozenset({bytes.fromhex(DlcSettings().chain_hash)}))
EVENT = "btcusd-crash"
MATURITY = dt.datetime(2030, 1, 4, 8, tzinfo=dt.UTC)
TRADER = "a" * 64
_SCHEDULE = ExpirySchedule.parse(DlcSettings().expiry_schedule)
NEXT_MATURITY = _SCHEDULE.next_after(MATURITY)
NEXT_EVENT = _SCHEDULE.event_id(NEXT_MATURITY)
_READY = r'"msg": "service dlc ready"'


@pytest.fixture
async def oracle_stand_in(amqp_url: str) -> AsyncIterator[tuple[Bus, TestOracle]]:
    oracle = TestOracle()
    announced = {
        EVENT: (MATURITY, oracle.announce(EVENT, int(MATURITY.timestamp()))),
        NEXT_EVENT: (NEXT_MATURITY, oracle.announce(NEXT_EVENT, int(NEXT_MATURITY.timestamp()))),
    }
    bus = Bus.for_url("oracle", amqp_url)

    async def get_announcement(req: EventIdRequest, call: RpcCall) -> Announcement:
        del call
        maturity, announcement = announced[req.event_id]
        return Announcement(
            oracle="oracle",
            event_id=req.event_id,
            oracle_public_key=oracle.public_key.hex(),
            hashing="sha256",
            maturity=maturity,
            kind="numeric",
            descriptor={"base": 2, "nbDigits": 20},
            nonces=[n.hex() for n in announcement.oracle_event.oracle_nonces],
            announcement_signature=announcement.announcement_signature.hex(),
            announcement_tlv=announcement.serialize().hex(),
            state="announced",
        )

    async def get_index_price(req: NoArguments, call: RpcCall) -> IndexPrice:
        del req, call
        return IndexPrice(oracle="oracle", price_cents=5_000_000, at=MATURITY, quotes=[])

    await bus.serve_typed(GET_ANNOUNCEMENT, get_announcement)
    await bus.serve_typed(GET_INDEX_PRICE, get_index_price)
    await bus.start()
    yield bus, oracle
    await bus.close()


def _env(devnet: Any, pg_url: str, amqp_url: str, tmp_path: Path, words: str) -> dict[str, str]:
    return {
        "TENTENONE_DLC_DATABASE_URL": pg_url,
        "TENTENONE_AMQP_URL": amqp_url,
        "TENTENONE_DLC_FUNDING_SEED": "22" * 32,
        "TENTENONE_DLC_WALLET_MNEMONIC": words,
        "TENTENONE_DLC_ELECTRUM_SERVERS": json.dumps([f"tcp://{devnet.electrum_address}"]),
        "TENTENONE_DLC_NETWORK": "regtest",
        "TENTENONE_DLC_DATA_DIR": str(tmp_path),
        "TENTENONE_DLC_MAX_CETS": "60",
        "TENTENONE_DLC_COORDINATOR_LEVERAGE": "1",
        "TENTENONE_DLC_POLL_INTERVAL_S": "0.5",
        "TENTENONE_DLC_HOUSE_TRADERS": '["house"]',
        "TENTENONE_HTTP_PORT": "0",
        "TENTENONE_LOG_LEVEL": "INFO",
    }


async def _run(spawn: Spawn, env: dict[str, str], crash_at: str | None) -> PythonProcess:
    extra = {CRASH_AT_ENV: crash_at} if crash_at else {}
    proc = spawn("tentenone_dlc", env={**env, **extra})
    await proc.wait_for_output(_READY, 90)
    return proc


async def _died(proc: PythonProcess, point: str) -> None:
    await wait_until(lambda: proc.returncode is not None, 60, what=f"SIGKILL at {point}")
    assert proc.returncode == -9
    assert f"killed at {point}" in proc.output()


async def _messages(client: Bus, kind: str) -> tuple[str, Any]:
    async def poll() -> tuple[str, Any] | None:
        try:
            reply = await client.request(
                wire.LIST_PROTOCOL_MESSAGES,
                wire.ListProtocolMessagesRequest(trader_pubkey=TRADER),
                timeout_s=5,
            )
        except Exception:
            return None
        for m in reply.messages:
            if m.message_type == kind:
                return m.position_id, parse_protocol_message(bytes.fromhex(m.payload_hex))
        return None

    found: tuple[str, Any] = await wait_until(poll, 60, interval=0.5, what=kind)
    return found


async def _state(client: Bus, position_id: str, state: str) -> wire.Position:
    async def poll() -> wire.Position | None:
        try:
            p = await client.request(
                wire.GET_POSITION,
                wire.PositionRequest(trader_pubkey=TRADER, position_id=position_id),
                timeout_s=5,
            )
        except Exception:
            return None
        return p if p.state == state else None

    found: wire.Position = await wait_until(poll, 90, interval=0.5, what=f"position {state}")
    return found


async def test_killed_at_each_step_the_trade_still_opens_and_settles_on_chain(
    devnet_electrum: Any,
    spawn: Spawn,
    pg_url: str,
    amqp_url: str,
    tmp_path: Path,
    oracle_stand_in: tuple[Bus, TestOracle],
) -> None:
    net = devnet_electrum
    words = generate_mnemonic()
    account = WalletAccount.from_mnemonic(words, Network.REGTEST, AddressKind.P2WPKH)
    for index in range(3):
        address = script_pubkey_to_address(account.derive(0, index).script, "regtest")
        net.fund(address, 5_000_000, confirm=True)
    trader_spk = p2wpkh(pubkey(key("crash trader wallet")))
    txid, vout = net.fund(script_pubkey_to_address(trader_spk, "regtest"), 3_000_000, confirm=True)
    trader_coin = FundingInput(
        0, bytes.fromhex(net.rpc.call("getrawtransaction", txid)), vout, 0xFFFFFFFF, 108
    )
    net.wait_electrum_synced()
    env = _env(net, pg_url, amqp_url, tmp_path, words)
    client = Bus.for_url("tt-trader", amqp_url)
    await client.start()
    try:
        # 0. killed between locking coins for the offer and storing it
        proc = await _run(spawn, env, "dlc.coordinator.offer.after_reserve")
        body = {
            "trade_id": "crash-1",
            "market": EVENT,
            "price": 5_000_000,
            "quantity": 1_000,
            "taker_side": "long",
            "taker_trader_id": TRADER,
            "taker_order_id": "o1",
            "taker_fee_sat": 500,
            "taker_leverage": 5,
            "maker_trader_id": "house",
            "maker_order_id": "m1",
        }
        await client.publish_raw("orderbook", "trade.matched", json.dumps(body).encode())
        await _died(proc, "dlc.coordinator.offer.after_reserve")

        # 1. the lock was taken in the consumer's transaction, which the kill rolled
        # back; the redelivered match makes the offer again, killed right after
        # storing it: the next delivery finds it
        proc = await _run(spawn, env, "dlc.coordinator.offer.after_save")
        await _died(proc, "dlc.coordinator.offer.after_save")

        # 2. killed after saving the accept and our sign_dlc, before answering
        proc = await _run(spawn, env, "dlc.coordinator.accept.after_save")
        position_id, offer = await _messages(client, "offer_dlc")
        assert isinstance(offer, OfferDlc)
        funding = PartyFunding(
            pubkey(key("crash trader fund")),
            p2wpkh(pubkey(key("crash trader payout"))),
            trader_spk,
            (trader_coin,),
        )
        accept, accepted = accept_offer(offer, POLICY, funding, key("crash trader fund"))
        submit = wire.SubmitProtocolMessage(
            trader_pubkey=TRADER,
            position_id=position_id,
            message_type="accept_dlc",
            payload_hex=accept.serialize().hex(),
        )
        with pytest.raises(Exception):  # noqa: B017 - no reply from a dead process
            await client.request(wire.SUBMIT_PROTOCOL_MESSAGE, submit, timeout_s=20)
        await _died(proc, "dlc.coordinator.accept.after_save")

        # 3. after a restart the sign_dlc is there; fund, open, then killed before the CET
        proc = await _run(spawn, env, "dlc.coordinator.settle.before_broadcast")
        again = await client.request(wire.SUBMIT_PROTOCOL_MESSAGE, submit, timeout_s=20)
        assert again.state == "signed"  # the replayed accept: nothing new
        _, sign = await _messages(client, "sign_dlc")
        assert isinstance(sign, SignDlc)
        funding_tx, signed = complete_funding(
            accepted, sign, POLICY, KeyInputSigner([key("crash trader wallet")])
        )
        net.rpc.call("sendrawtransaction", funding_tx.serialize().hex())
        net.mine(1)
        opened = await _state(client, position_id, "open")
        assert opened.funding_txid == funding_tx.txid_hex()
        oracle_bus, oracle = oracle_stand_in
        attestation = oracle.attest(EVENT, 52_000)
        await oracle_bus.publish(
            OracleAttested(
                oracle="oracle",
                event_id=EVENT,
                oracle_public_key=oracle.public_key.hex(),
                maturity=MATURITY,
                outcome="52000",
                values=list(attestation.outcomes),
                signatures=[s.hex() for s in attestation.signatures],
                attested_at=MATURITY,
                attestation_tlv=attestation.serialize().hex(),
            )
        )
        await _died(proc, "dlc.coordinator.settle.before_broadcast")

        # 4. restarted without a crash point: the stored CET goes out and confirms
        proc = await _run(spawn, env, None)
        settling = await _state(client, position_id, "closing")
        cet_txid = settling.closing_txid
        await wait_until(
            lambda: cet_txid in net.rpc.call("getrawmempool"), 60, what="CET in the mempool"
        )
        net.mine(1)
        settled = await _state(client, position_id, "settled")
        cet = parse_transaction(bytes.fromhex(net.rpc.call("getrawtransaction", cet_txid)))
        info = signed.contract.contract_info
        trader_payout = info.total_collateral - offer_payout_at(info, 52_000)
        paid = {o.script_pubkey: o.value for o in cet.outputs}
        assert paid[p2wpkh(pubkey(key("crash trader payout")))] == trader_payout
        assert settled.pnl.realized_pnl_sat == trader_payout - settled.trader_margin_sat
        # every sat of the funding output is in the CET's outputs or its fee
        fee = signed.funding.value - sum(paid.values())
        assert 0 < fee < 2_000
        proc.terminate()
    finally:
        await client.close()


async def test_no_attestation_by_the_refund_locktime_the_refund_confirms_on_chain(
    devnet_electrum: Any,
    spawn: Spawn,
    pg_url: str,
    amqp_url: str,
    tmp_path: Path,
    oracle_stand_in: tuple[Bus, TestOracle],
) -> None:
    """The oracle stays silent: at the refund locktime the coordinator broadcasts the
    refund (killed before and after it), each side gets its collateral back."""
    del oracle_stand_in  # serves the announcement; never attests here
    net = devnet_electrum
    words = generate_mnemonic()
    account = WalletAccount.from_mnemonic(words, Network.REGTEST, AddressKind.P2WPKH)
    net.fund(
        script_pubkey_to_address(account.derive(0, 0).script, "regtest"), 5_000_000, confirm=True
    )
    trader_spk = p2wpkh(pubkey(key("refund trader wallet")))
    txid, vout = net.fund(script_pubkey_to_address(trader_spk, "regtest"), 3_000_000, confirm=True)
    trader_coin = FundingInput(
        0, bytes.fromhex(net.rpc.call("getrawtransaction", txid)), vout, 0xFFFFFFFF, 108
    )
    net.wait_electrum_synced()
    env = {
        **_env(net, pg_url, amqp_url, tmp_path, words),
        # maturity counts as no blocks away: the refund locktime is the tip + 3
        "TENTENONE_DLC_BLOCK_INTERVAL_S": str(10**12),
        "TENTENONE_DLC_REFUND_DELAY_BLOCKS": "3",
    }
    client = Bus.for_url("tt-trader", amqp_url)
    await client.start()
    try:
        proc = await _run(spawn, env, "dlc.coordinator.refund.before_broadcast")
        body = {
            "trade_id": "refund-1",
            "market": EVENT,
            "price": 5_000_000,
            "quantity": 1_000,
            "taker_side": "short",
            "taker_trader_id": TRADER,
            "taker_order_id": "o1",
            "taker_fee_sat": 500,
            "taker_leverage": 2,
            "maker_trader_id": "house",
            "maker_order_id": "m1",
        }
        await client.publish_raw("orderbook", "trade.matched", json.dumps(body).encode())
        position_id, offer = await _messages(client, "offer_dlc")
        assert isinstance(offer, OfferDlc)
        payout_spk = p2wpkh(pubkey(key("refund trader payout")))
        funding = PartyFunding(
            pubkey(key("refund trader fund")), payout_spk, trader_spk, (trader_coin,)
        )
        accept, accepted = accept_offer(offer, POLICY, funding, key("refund trader fund"))
        submit = wire.SubmitProtocolMessage(
            trader_pubkey=TRADER,
            position_id=position_id,
            message_type="accept_dlc",
            payload_hex=accept.serialize().hex(),
        )
        await client.request(wire.SUBMIT_PROTOCOL_MESSAGE, submit, timeout_s=60)
        _, sign = await _messages(client, "sign_dlc")
        funding_tx, signed = complete_funding(
            accepted, sign, POLICY, KeyInputSigner([key("refund trader wallet")])
        )
        net.rpc.call("sendrawtransaction", funding_tx.serialize().hex())
        net.mine(1)
        opened = await _state(client, position_id, "open")
        assert signed.txs.refund.locktime == offer.refund_locktime
        net.mine(max(0, offer.refund_locktime - net.rpc.call("getblockcount")))
        await _died(proc, "dlc.coordinator.refund.before_broadcast")

        proc = await _run(spawn, env, "dlc.coordinator.refund.after_confirm")
        refund_txid = signed.txs.refund.txid_hex()
        await wait_until(
            lambda: refund_txid in net.rpc.call("getrawmempool"), 60, what="refund in the mempool"
        )
        net.mine(1)
        await _died(proc, "dlc.coordinator.refund.after_confirm")

        proc = await _run(spawn, env, None)
        refunded = await _state(client, position_id, "refunded")
        assert refunded.closing_txid == refund_txid and refunded.pnl.realized_pnl_sat == 0
        refund = parse_transaction(bytes.fromhex(net.rpc.call("getrawtransaction", refund_txid)))
        paid = {o.script_pubkey: o.value for o in refund.outputs}
        assert paid[payout_spk] == opened.trader_margin_sat
        assert paid[offer.payout_spk] == opened.coordinator_margin_sat
        # no sat of the funding output lost: the outputs and the fee make it up
        fee = signed.funding.value - sum(paid.values())
        assert 0 < fee < 2_000
        proc.terminate()
    finally:
        await client.close()


async def test_a_rollover_killed_at_each_step_still_completes_on_chain(
    devnet_electrum: Any,
    spawn: Spawn,
    pg_url: str,
    amqp_url: str,
    tmp_path: Path,
    oracle_stand_in: tuple[Bus, TestOracle],
) -> None:
    """Open a position, then roll it over with the coordinator killed by SIGKILL after
    storing the renew offer, after storing its renew sign, before broadcasting the
    renewal and after it confirms: each restart resumes, the renewed position opens."""
    del oracle_stand_in  # serves both expiries' announcements
    net = devnet_electrum
    words = generate_mnemonic()
    account = WalletAccount.from_mnemonic(words, Network.REGTEST, AddressKind.P2WPKH)
    for index in range(2):
        address = script_pubkey_to_address(account.derive(0, index).script, "regtest")
        net.fund(address, 5_000_000, confirm=True)
    trader_spk = p2wpkh(pubkey(key("roll trader wallet")))
    txid, vout = net.fund(script_pubkey_to_address(trader_spk, "regtest"), 3_000_000, confirm=True)
    trader_coin = FundingInput(
        0, bytes.fromhex(net.rpc.call("getrawtransaction", txid)), vout, 0xFFFFFFFF, 108
    )
    net.wait_electrum_synced()
    env = _env(net, pg_url, amqp_url, tmp_path, words)
    client = Bus.for_url("tt-trader", amqp_url)
    await client.start()

    async def submit(position_id: str, kind: str, message: Any) -> wire.Position:
        req = wire.SubmitProtocolMessage(
            trader_pubkey=TRADER,
            position_id=position_id,
            message_type=kind,
            payload_hex=message.serialize().hex(),
        )
        reply: wire.Position = await client.request(wire.SUBMIT_PROTOCOL_MESSAGE, req, timeout_s=30)
        return reply

    async def roll(position_id: str) -> None:
        req = wire.PositionRequest(trader_pubkey=TRADER, position_id=position_id)
        await client.request(wire.REQUEST_ROLLOVER, req, timeout_s=30)

    try:
        proc = await _run(spawn, env, "dlc.coordinator.rollover.after_save")
        body = {
            "trade_id": "roll-1",
            "market": EVENT,
            "price": 5_000_000,
            "quantity": 1_000,
            "taker_side": "long",
            "taker_trader_id": TRADER,
            "taker_order_id": "o1",
            "taker_fee_sat": 500,
            "taker_leverage": 5,
            "maker_trader_id": "house",
            "maker_order_id": "m1",
        }
        await client.publish_raw("orderbook", "trade.matched", json.dumps(body).encode())
        position_id, offer = await _messages(client, "offer_dlc")
        assert isinstance(offer, OfferDlc)
        fund_secret = key("roll trader fund")
        funding = PartyFunding(
            pubkey(fund_secret),
            p2wpkh(pubkey(key("roll trader payout"))),
            trader_spk,
            (trader_coin,),
        )
        accept, accepted = accept_offer(offer, POLICY, funding, fund_secret)
        await submit(position_id, "accept_dlc", accept)
        _, sign = await _messages(client, "sign_dlc")
        funding_tx, signed = complete_funding(
            accepted, sign, POLICY, KeyInputSigner([key("roll trader wallet")])
        )
        net.rpc.call("sendrawtransaction", funding_tx.serialize().hex())
        net.mine(1)
        await _state(client, position_id, "open")

        # 1. killed after storing the renew offer, before publishing it: resent on restart
        with pytest.raises(Exception):  # noqa: B017 - no reply from a dead process
            await roll(position_id)
        await _died(proc, "dlc.coordinator.rollover.after_save")
        proc = await _run(spawn, env, "dlc.coordinator.rollover.after_sign_save")
        _, renew = await _messages(client, "renew_offer")
        assert isinstance(renew, RenewOffer)
        now = int(dt.datetime.now(dt.UTC).timestamp())
        renew_accept, _ = accept_renewal(
            signed,
            renew,
            POLICY,
            key("roll renewed fund"),
            p2wpkh(pubkey(key("roll payout"))),
            now=now,
        )

        # 2. killed after storing its renew sign: the replayed renew_accept finds it
        with pytest.raises(Exception):  # noqa: B017 - no reply from a dead process
            await submit(position_id, "renew_accept", renew_accept)
        await _died(proc, "dlc.coordinator.rollover.after_sign_save")
        proc = await _run(spawn, env, "dlc.coordinator.rollover.before_broadcast")
        await submit(position_id, "renew_accept", renew_accept)
        _, renew_sign = await _messages(client, "renew_sign")
        assert isinstance(renew_sign, RenewSign)
        finalize, new_signed, renewal = finalize_renewal(
            signed, renew, renew_accept, renew_sign, POLICY, fund_secret
        )

        # 3. killed before broadcasting the stored renewal, 4. after it confirms
        await submit(position_id, "renew_finalize", finalize)
        await _died(proc, "dlc.coordinator.rollover.before_broadcast")
        proc = await _run(spawn, env, "dlc.coordinator.rollover.after_confirm")
        await wait_until(
            lambda: renewal.txid_hex() in net.rpc.call("getrawmempool"), 60, what="renewal sent"
        )
        net.mine(1)
        await _died(proc, "dlc.coordinator.rollover.after_confirm")
        proc = await _run(spawn, env, None)
        old = await _state(client, position_id, "closed")
        assert "rolled over" in old.note
        listed = await client.request(
            wire.LIST_POSITIONS, wire.ListPositionsRequest(trader_pubkey=TRADER), timeout_s=10
        )
        [new] = [p for p in listed.positions if p.contract_id == new_signed.contract_id.hex()]
        await _state(client, new.position_id, "open")
        # the renewal spends the old funding output
        raw = net.rpc.call("getrawtransaction", renewal.txid_hex())
        spent = parse_transaction(bytes.fromhex(raw))
        assert any(i.outpoint.txid[::-1].hex() == funding_tx.txid_hex() for i in spent.inputs)
        proc.terminate()
    finally:
        await client.close()
