"""Bad input end to end: every wrong message is refused with its reason, funds nothing and
changes no state; a refused match is released on both sides and in the order book.

Each case is a trader of its own on one system (every service a real process),
all at once. The wrong input comes through the trader's own ports, real
components with one change: its gateway client (``TamperingGateway``) alters
the coordinator's ``offer_dlc`` on the way in or the trader's ``accept_dlc``
on the way out (a man in the middle, or a coordinator gone bad); its funding
wallet (``SpentCoinsWallet``) hands out a coin the chain has already seen spent.

- a tampered offer (payout curve, oracle, fee rate, refund locktime): the
  trader refuses it naming what is wrong, reserves no coin, and its reject
  makes the coordinator release the match and the order book the fill;
- an invalid adaptor signature in ``accept_dlc``: the coordinator refuses it
  naming the signature, releases the match (the trader's coins come back);
- a funding input already spent: the coordinator refuses the accept;
- on an honest open position, replayed and out-of-order messages in both
  directions: refused or ignored, neither side's state moves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
import pytest_asyncio
from trading import FUNDS, drive, fund, latest_market, new_trader, place
from trading import system_config as trade_system

from tentenone.bitcoin.tx import OutPoint
from tentenone.dlc.contract import (
    NumericOutcomeContractDescriptor,
    SingleContractInfo,
    SingleOracleInfo,
)
from tentenone.dlc.messages import AcceptDlc, FundingInput, OfferDlc, SignDlc
from tentenone.dlc.payout_curve import RoundingIntervals
from tentenone.dlc.protocol.messages import (
    PROTOCOL_VERSION,
    CloseAccept,
    CloseConfirm,
)
from tentenone.dlc.protocol.states import TraderState as T
from tentenone.errors import TentenoneError
from tentenone.oracle import schnorr
from tentenone.testing import wait_until
from tentenone.testing.system import System, SystemConfig
from tentenone.trader import Trader
from tentenone.trader.gateway import GatewayApi
from tentenone.trader.models import TraderContract
from tentenone.trader.ports import FundingWallet
from tentenone.wire.gateway import ProtocolMessageList

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def system_config() -> SystemConfig:
    return trade_system()


class TamperingGateway:
    """The trader's gateway client, changing one message type on its way."""

    def __init__(
        self,
        inner: GatewayApi,
        *,
        offer: Callable[[OfferDlc], OfferDlc] | None = None,
        accept: Callable[[AcceptDlc], AcceptDlc] | None = None,
    ) -> None:
        self.inner, self.offer, self.accept = inner, offer, accept

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def protocol_messages(self, after_seq: int, limit: int = 50) -> ProtocolMessageList:
        found = await self.inner.protocol_messages(after_seq, limit)
        if self.offer is None:
            return found
        changed = []
        for item in found.messages:
            if item.message_type == "offer_dlc":
                offer = self.offer(OfferDlc.parse(bytes.fromhex(item.payload_hex)))
                item = item.model_copy(update={"payload_hex": offer.serialize().hex()})
            changed.append(item)
        return found.model_copy(update={"messages": changed})

    async def submit_message(self, position_id: str, message_type: str, payload_hex: str) -> Any:
        if message_type == "accept_dlc" and self.accept is not None:
            accept = self.accept(AcceptDlc.parse(bytes.fromhex(payload_hex)))
            payload_hex = accept.serialize().hex()
        return await self.inner.submit_message(position_id, message_type, payload_hex)


class SpentCoinsWallet:
    """The trader's funding wallet, but ``reserve`` hands out coins spent meanwhile."""

    def __init__(self, inner: FundingWallet, spent: Sequence[FundingInput]) -> None:
        self.inner, self.spent = inner, list(spent)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def reserve(self, amount: int, fee_rate: int, reason: str) -> list[FundingInput]:
        return self.spent

    async def release(self, outpoints: Sequence[OutPoint]) -> None:
        await self.inner.release(outpoints)


# -- the tampering ---------------------------------------------------------------------


def _descriptor(offer: OfferDlc) -> tuple[SingleContractInfo, NumericOutcomeContractDescriptor]:
    info = offer.contract_info
    assert isinstance(info, SingleContractInfo)
    assert isinstance(info.event.descriptor, NumericOutcomeContractDescriptor)
    return info, info.event.descriptor


def coarser_payouts(offer: OfferDlc) -> OfferDlc:
    """Every payout rounded to twice the agreed step: another curve."""
    info, descriptor = _descriptor(offer)
    intervals = RoundingIntervals(
        tuple(
            dataclasses.replace(i, rounding_mod=i.rounding_mod * 2)
            for i in descriptor.rounding_intervals.intervals
        )
    )
    descriptor = dataclasses.replace(descriptor, rounding_intervals=intervals)
    event = dataclasses.replace(info.event, descriptor=descriptor)
    return dataclasses.replace(offer, contract_info=dataclasses.replace(info, event=event))


def another_oracle(offer: OfferDlc) -> OfferDlc:
    """The same event under a key that is not the system's oracle (whose attestation the
    coordinator could make up)."""
    info, _ = _descriptor(offer)
    oracle_info = info.event.oracle_info
    assert isinstance(oracle_info, SingleOracleInfo)
    other = schnorr.public_key(secrets.token_bytes(32))
    announcement = dataclasses.replace(oracle_info.announcement, oracle_public_key=other)
    event_info = dataclasses.replace(info.event, oracle_info=SingleOracleInfo(announcement))
    return dataclasses.replace(offer, contract_info=dataclasses.replace(info, event=event_info))


def dear_fee_rate(offer: OfferDlc) -> OfferDlc:
    return dataclasses.replace(offer, feerate_per_vb=900)


def late_refund(offer: OfferDlc) -> OfferDlc:
    """The margin locked for a year if the oracle goes silent."""
    return dataclasses.replace(offer, refund_locktime=offer.refund_locktime + 52_560)


def bad_adaptor_signature(accept: AcceptDlc) -> AcceptDlc:
    sigs = list(accept.cet_adaptor_signatures)
    sigs[0] = sigs[0][:80] + bytes([sigs[0][80] ^ 1]) + sigs[0][81:]  # inside s_a
    return dataclasses.replace(accept, cet_adaptor_signatures=tuple(sigs))


TAMPERED_OFFERS: dict[str, tuple[Callable[[OfferDlc], OfferDlc], str]] = {
    "payout": (coarser_payouts, "the payout curve is not the trade's"),
    "oracle": (another_oracle, "is not the one the oracle published"),
    "fee rate": (dear_fee_rate, "feerate_per_vb 900 is outside"),
    "locktime": (late_refund, "blocks after the expiry"),
}


# -- the run ----------------------------------------------------------------------------


async def released(system: System, trader: Trader, state: T, reason: str) -> TraderContract:
    """The trader's contract ends ``state`` naming ``reason``; nothing funded, nothing locked,
    the coordinator released the match and the order book the fill."""
    initial = trader.require_wallet().balance().confirmed
    row = await drive(system, trader, frozenset({state}), 120)
    assert reason in row.note, row.note
    assert row.funding_txid is None and not row.reserved
    wallet = trader.require_wallet()
    assert wallet.locked_coins() == {}
    assert wallet.balance().confirmed == initial
    await wait_until(
        lambda: any(e.trade_id == row.trade_id for e in system.seen("fill.released")),
        60,
        what="the order book's release of the fill",
    )
    position = await trader.gateway.position(row.position_id)
    assert position.state == "cancelled", position.state
    return row


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cases(
    system: System, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, BaseException | TraderContract]]:
    """Every case at once: each one's contract, or its failure."""
    await system.watch("fill.released")
    base = tmp_path_factory.mktemp("bad")
    names = [*TAMPERED_OFFERS, "adaptor", "spent input", "honest"]
    traders = {name: await new_trader(system, base / name.replace(" ", "_")) for name in names}
    try:
        for trader in traders.values():  # one block for all
            await asyncio.to_thread(system.net.fund, await trader.new_address(), FUNDS)
        await fund(system, traders["honest"], FUNDS)
        for trader in traders.values():
            wallet = trader.require_wallet()
            await wait_until(lambda w=wallet: w.balance().confirmed >= FUNDS, 60, what="funds")
        for name, (tamper, _) in TAMPERED_OFFERS.items():
            engine = traders[name].require_engine()
            engine.gateway = TamperingGateway(engine.gateway, offer=tamper)
        engine = traders["adaptor"].require_engine()
        engine.gateway = TamperingGateway(engine.gateway, accept=bad_adaptor_signature)
        await spend_from_under(system, traders["spent input"])
        market = await latest_market(system)
        for trader in traders.values():  # one after the other: the house's orders rest apart
            await place(system, trader, market, "long")
        runs = [
            *(
                released(system, traders[name], T.REJECTED, reason)
                for name, (_, reason) in TAMPERED_OFFERS.items()
            ),
            released(system, traders["adaptor"], T.RELEASED, "adaptor signature"),
            released(system, traders["spent input"], T.RELEASED, "dlc_funding_input_spent"),
            drive(system, traders["honest"], frozenset({T.OPEN}), 180),
        ]
        results = await asyncio.gather(*runs, return_exceptions=True)
        yield {"traders": traders, **dict(zip(names, results, strict=True))}  # type: ignore[dict-item]
    finally:
        for trader in traders.values():
            await trader.close()


async def spend_from_under(system: System, trader: Trader) -> None:
    """The trader's coins as its accept will name them, then spent to itself and confirmed."""
    engine = trader.require_engine()
    coins = await engine.wallet.reserve(FUNDS // 2, 2, "about to be spent")
    wallet = trader.require_wallet()
    await wallet.release_coins(list(wallet.locked_coins()))
    balance = wallet.balance().confirmed
    await wallet.send([(await wallet.new_address(), balance // 2)], fee_rate_kvb=2_000)
    await asyncio.to_thread(system.mine, 1)
    await wait_until(
        lambda: wallet.balance().unconfirmed == 0 and wallet.balance().confirmed < balance,
        60,
        what="the spend confirmed",
    )
    engine.wallet = SpentCoinsWallet(engine.wallet, coins)


def _outcome(cases: dict[str, Any], name: str) -> TraderContract:
    found = cases[name]
    if isinstance(found, BaseException):
        raise found
    assert isinstance(found, TraderContract)
    return found


@pytest.mark.parametrize("name", list(TAMPERED_OFFERS))
async def test_a_tampered_offer_is_refused_with_its_reason_and_released_everywhere(
    cases: dict[str, Any], name: str
) -> None:
    row = _outcome(cases, name)
    assert T(row.state) is T.REJECTED


async def test_an_invalid_adaptor_signature_is_refused_by_the_coordinator(
    cases: dict[str, Any],
) -> None:
    row = _outcome(cases, "adaptor")
    assert "released by the coordinator" in row.note


async def test_a_funding_input_already_spent_is_refused_by_the_coordinator(
    cases: dict[str, Any],
) -> None:
    row = _outcome(cases, "spent input")
    assert "spent" in row.note


async def test_replayed_and_out_of_order_messages_change_nothing(
    system: System, cases: dict[str, Any]
) -> None:
    opened = _outcome(cases, "honest")
    trader: Trader = cases["traders"]["honest"]
    engine = trader.require_engine()
    before = await trader.gateway.position(opened.position_id)

    async def unchanged() -> None:
        rows = await trader.contract_rows()
        (row,) = [r for r in rows if r.id == opened.id]
        assert (row.state, row.note, row.updated_at) == (
            opened.state,
            opened.note,
            opened.updated_at,
        )
        after = await trader.gateway.position(opened.position_id)
        assert (after.state, after.version) == (before.state, before.version)

    # to the trader: the offer and sign_dlc again, a close_confirm nobody asked for
    offer = OfferDlc.parse(bytes.fromhex(opened.offer_hex))
    sign = SignDlc.parse(bytes.fromhex(opened.sign_hex or ""))
    contract_id = bytes.fromhex(opened.contract_id or "")
    confirm = CloseConfirm(PROTOCOL_VERSION, contract_id, secrets.token_bytes(32), bytes(64))
    for message in (offer, sign, confirm):
        await engine.apply(opened.position_id, message)
        await unchanged()

    # to the coordinator: the accept again (the same: taken as a repeat; another: refused),
    # a close_accept for a close nobody offered
    accept_hex = opened.accept_hex or ""
    await trader.gateway.submit_message(opened.position_id, "accept_dlc", accept_hex)
    await unchanged()
    other = bad_adaptor_signature(AcceptDlc.parse(bytes.fromhex(accept_hex)))
    close = CloseAccept(PROTOCOL_VERSION, contract_id, secrets.token_bytes(32), bytes(64))
    for kind, message in (("accept_dlc", other), ("close_accept", close)):
        with pytest.raises(TentenoneError) as refused:
            await trader.gateway.submit_message(opened.position_id, kind, message.serialize().hex())
        assert "unexpected" in refused.value.code or "state" in refused.value.message
        await unchanged()
