"""What the end-to-end trade tests share: the system's settings, a trader, funding it,
placing against the house, driving its engine (mining what it waits for) and the
expected payout and fees computed from the trade's numbers, never from the code
under test."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tentenone.bitcoin.tx import parse_transaction
from tentenone.chain import ElectrumChainSource, Network
from tentenone.crashpoint import REGISTRY
from tentenone.dlc.contract import NumericOutcomeContractDescriptor, SingleContractInfo
from tentenone.dlc.messages import OfferDlc
from tentenone.dlc.protocol.messages import RenewOffer
from tentenone.dlc.protocol.states import COORDINATOR_FINAL
from tentenone.dlc.protocol.states import TraderState as T
from tentenone.errors import Unavailable
from tentenone.testing import wait_until
from tentenone.testing.system import HOUSE, System, SystemConfig, installed_services
from tentenone.trader import OrderRequest, Trader, TraderSettings
from tentenone.trader.errors import GatewayUnavailable
from tentenone.trader.models import OrderState, TraderContract
from tentenone.wallet import MemoryPersister, Wallet, generate_mnemonic
from tentenone.wire import orderbook as wob

INDEX_USD = 51_000
PRICE_CENTS = 5_000_000
QUANTITY = 1_000
LEVERAGE = 5
FEE_RATE = 2
TAKER_FEE_BPS = 5
FUNDS = 5_000_000
PASSPHRASE = "e2e passphrase"
#: an order goes to the first expiry at least this far ahead (time to open before it)
LEAD_S = 40
#: dlcspecs weights (Transactions.md): P2WPKH input 164 + 108 witness, output 36 + 4 * 22
P2WPKH_INPUT_WEIGHT = 164 + 108
P2WPKH_OUTPUT_WEIGHT = 36 + 4 * 22
FUNDING_BASE_WEIGHT = 214
CET_BASE_WEIGHT = 498

#: kill point -> the process a test saw die there (and restarted); printed after the run
KILLED: dict[str, str] = {}


def kill_point_table() -> str:
    """Every declared kill point, and which process a test killed there."""
    # a service's own points are declared where it is imported: count what was killed too
    names = sorted(set(REGISTRY) | set(KILLED))
    width = max(len(p) for p in names)
    lines = [f"{len(KILLED)} of {len(names)} kill points covered end to end"]
    for name in names:
        seen = KILLED.get(name)
        lines.append(f"  {name:<{width}}  {'killed, restarted: ' + seen if seen else '-'}")
    return "\n".join(lines)


_NOT_YET_OPEN = frozenset({T.OFFER_RECEIVED, T.ACCEPTED, T.SIGNED, T.FUNDING, T.PENDING_RENEWAL})
_FAILED = frozenset({T.REJECTED, T.RELEASED, T.REFUNDING, T.REFUNDED})
#: open, or any state a position reaches after open (the expiry may come quickly)
OPEN_OR_LATER = frozenset(T) - _NOT_YET_OPEN - _FAILED


async def restart_at_each(
    system: System, name: str, crash_at: Sequence[str], env: dict[str, str] | None = None
) -> None:
    """``name`` dies at each point in turn, started again with the next, then with none."""
    for index, point in enumerate(crash_at):
        died = await system.wait_died(name, timeout=180)
        assert died == point, f"{name} died at {died}, expected {point}"
        KILLED[point] = f"{name} process"
        await system.restart(name, env=env, crash_at=crash_at[index + 1 :])


async def coordinator_quiet(system: System, within: float = 180) -> None:
    """Until every contract of the coordinator is final, mining a block every 2 s: a crash
    point armed next is then met by the next trade, not by the end of an earlier one (a
    settlement the coordinator, restarted late, is still finishing)."""
    final = ", ".join(str(int(state)) for state in COORDINATOR_FINAL)
    engine = create_async_engine(system.database_url)
    query = text(f"select count(*) from dlc.contracts where state not in ({final})")

    async def quiet() -> bool:
        async with engine.connect() as connection:
            live = (await connection.execute(query)).scalar_one()
        if live:
            with contextlib.suppress(Unavailable):
                await asyncio.to_thread(system.mine, 1)
        return live == 0

    try:
        await wait_until(quiet, within, interval=2, what="no live contract at the coordinator")
    finally:
        await engine.dispose()


def system_config(**changes: Any) -> SystemConfig:
    """The trade tests' system: minute expiries, small contracts, no maker."""
    settings: dict[str, Any] = dict(
        expiry_every_s=60,
        price_usd=INDEX_USD,
        max_cets=60,
        fee_rate=FEE_RATE,
        offer_timeout_s=120,
        services=[n for n in installed_services() if n != "maker"],
    )
    return SystemConfig(**(settings | changes))


def trader_settings(system: System, data_dir: Path) -> TraderSettings:
    return TraderSettings(
        data_dir=data_dir,
        gateway_url=system.gateway_url,
        electrum_servers=system.electrum_servers,
        max_cets=system.config.max_cets,
        poll_interval_s=0.5,
        websocket=False,
    )


async def new_trader(system: System, data_dir: Path, words: str | None = None) -> Trader:
    settings = trader_settings(system, data_dir)
    trader = await Trader.create_wallet(settings, words or generate_mnemonic(), PASSPHRASE)
    await trader.start()
    return trader


async def fund(system: System, trader: Trader, sats: int) -> int:
    address = await trader.new_address()
    await asyncio.to_thread(system.net.fund, address, sats)
    await asyncio.to_thread(system.mine, 1)
    wallet = trader.require_wallet()
    await wait_until(lambda: wallet.balance().confirmed >= sats, 60, what="funds seen")
    return wallet.balance().confirmed


async def latest_contract(trader: Trader) -> TraderContract | None:
    rows = await trader.contract_rows()
    return rows[-1] if rows else None


async def drive(
    system: System, trader: Trader, reached: frozenset[T], within: float
) -> TraderContract:
    """Engine passes, mining what the trader or the coordinator broadcast, until a state of
    ``reached``; a failed contract fails at once with its note."""
    engine = trader.require_engine()

    async def step() -> TraderContract | None:
        # a service restarting: the engine's own loop tries again, and so does this one
        with contextlib.suppress(GatewayUnavailable):
            await engine.run_once()
        row = await latest_contract(trader)
        if row is None:
            return None
        state = T(row.state)
        failed = _FAILED - reached - ({T.REFUNDING} if T.REFUNDED in reached else set())
        if state in failed:
            raise AssertionError(f"contract {row.id} ended {state.name}: {row.note}")
        # a renewal waits for the renewal transaction as an opening for its funding
        broadcast = state in (T.FUNDING, T.PENDING_RENEWAL, T.SETTLING, T.CLOSING, T.REFUNDING)
        # the coordinator's CET comes after the maturity; mining earlier only brings the
        # refund locktime closer
        cet_due = state is T.OPEN and dt.datetime.now(dt.UTC) >= row.maturity
        if broadcast or cet_due:
            # ElectrumX slow to follow on a loaded machine: the next step mines again
            with contextlib.suppress(Unavailable):
                await asyncio.to_thread(system.mine, 1)
        return row if state in reached else None

    found: TraderContract = await wait_until(
        step, within, interval=0.5, what=" or ".join(s.name for s in reached)
    )
    return found


def expected_trader_payout(
    offer: OfferDlc | RenewOffer, side: str, price_cents: int, extra_fee: int = 0
) -> int:
    """The trader's CET output at ``price_cents``: the inverse future's P&L on its margin,
    less the fee (plus ``extra_fee``: a rollover's), rounded as NumericOutcome.md rounds the
    offerer's payout, clamped."""
    total = offer.total_collateral
    margin = total - offer.offer_collateral
    sign = 1 if side == "long" else -1
    pnl = Fraction(QUANTITY * 100_000_000 * 100) * (
        Fraction(1, PRICE_CENTS) - Fraction(1, price_cents)
    )
    fee = QUANTITY * 100_000_000 * 100 // PRICE_CENTS * TAKER_FEE_BPS // 10_000 + extra_fee
    trader_value = Fraction(margin - fee) + sign * pnl
    offer_value = total - trader_value
    descriptor = numeric_descriptor(offer)
    outcome = price_cents // 100
    modulus = 1
    for interval in descriptor.rounding_intervals.intervals:
        if interval.begin_interval <= outcome:
            modulus = interval.rounding_mod
    rem = offer_value % modulus
    rounded = offer_value - rem + (modulus if rem >= Fraction(modulus, 2) else 0)
    if rounded > total:
        rounded = offer_value - rem
    offer_payout = min(max(int(rounded), 0), total)
    return total - offer_payout


def numeric_descriptor(offer: OfferDlc | RenewOffer) -> NumericOutcomeContractDescriptor:
    info = offer.contract_info
    assert isinstance(info, SingleContractInfo)
    assert isinstance(info.event.descriptor, NumericOutcomeContractDescriptor)
    return info.event.descriptor


def trader_fees(inputs: int) -> int:
    """The accepter's funding fee and CET fee (Transactions.md: shared fields split evenly;
    each side pays its inputs, its change output and its payout output)."""
    funding = FUNDING_BASE_WEIGHT // 2 + P2WPKH_OUTPUT_WEIGHT + inputs * P2WPKH_INPUT_WEIGHT
    cet = CET_BASE_WEIGHT // 2 + 4 * 22
    return (-(-funding // 4) + -(-cet // 4)) * FEE_RATE


def first_market_after(markets: wob.MarketList, seconds: float) -> str:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    found = [m for m in markets.markets if m.status == "open" and m.expiry >= soon]
    return min(found, key=lambda m: m.expiry).market


async def open_market(system: System, lead_s: float = LEAD_S) -> str:
    """The first open market expiring at least ``lead_s`` from now; the order book
    opens the next expiries only, so this may wait for the next one to open."""

    async def found() -> str | None:
        markets = await system.rpc(wob.LIST_MARKETS, wob.ListMarketsRequest())
        try:
            return first_market_after(markets, lead_s)
        except ValueError:
            return None

    market: str = await wait_until(
        found, lead_s + system.config.expiry_every_s, interval=1, what=f"a market {lead_s} s out"
    )
    return market


async def latest_market(system: System) -> str:
    """The open expiry furthest ahead (a minute or more: time for slow steps before it)."""
    markets = await system.rpc(wob.LIST_MARKETS, wob.ListMarketsRequest())
    return max((m for m in markets.markets if m.status == "open"), key=lambda m: m.expiry).market


async def place(system: System, trader: Trader, market: str, side: str) -> None:
    """The house rests the other side; the trader's order (through the gateway) takes it."""
    await system.rpc(
        wob.PLACE_ORDER,
        wob.PlaceOrderRequest(
            market=market,
            trader_id=HOUSE,
            side="sell" if side == "long" else "buy",
            quantity=QUANTITY,
            leverage=1,
            price=PRICE_CENTS,
        ),
    )
    request = OrderRequest(
        market, "buy" if side == "long" else "sell", QUANTITY, LEVERAGE, Decimal(PRICE_CENTS) / 100
    )
    order = await trader.place_order(request)
    assert order.remote_id is not None, order.note  # the order book's id, through the gateway


async def place_and_cancel(trader: Trader, market: str) -> None:
    """An order that rests (nothing sells that low) is cancelled through the gateway."""
    below = OrderRequest(market, "buy", QUANTITY, LEVERAGE, Decimal(PRICE_CENTS - 100_000) / 100)
    order = await trader.place_order(below)
    assert OrderState(order.state) is OrderState.OPEN, order.note
    cancelled = await trader.cancel_order(order.id)
    assert OrderState(cancelled.state) is OrderState.CANCELLED, cancelled.note


def past(maturity: dt.datetime, margin_s: float = 180) -> float:
    """Seconds to wait for a settlement: until ``margin_s`` after ``maturity`` (the
    attestation, the CET and its confirmation all come after it), however soon it is."""
    return max(margin_s, (maturity - dt.datetime.now(dt.UTC)).total_seconds() + margin_s)


async def settle(system: System, trader: Trader, side: str, initial: int) -> TraderContract:
    """Drive ``trader``'s one contract to SETTLED; its wallet ends with exactly the payout."""
    opened = await drive(system, trader, OPEN_OR_LATER, 120)
    offer = OfferDlc.parse(bytes.fromhex(opened.offer_hex))
    assert opened.trader_margin_sat == -(-QUANTITY * 100_000_000 * 100 // PRICE_CENTS // LEVERAGE)
    assert opened.fee_sat == QUANTITY * 100_000_000 * 100 // PRICE_CENTS * TAKER_FEE_BPS // 10_000

    settled = await drive(system, trader, frozenset({T.SETTLED}), past(opened.maturity))
    assert dt.datetime.now(dt.UTC) >= settled.maturity
    cet = parse_transaction(bytes.fromhex(settled.spend_tx_hex or ""))
    payout = expected_trader_payout(offer, side, system.price_usd * 100)
    own_inputs = len([x for x in settled.reserved.split(",") if x])
    wallet = trader.require_wallet()
    expected = initial - opened.trader_margin_sat - trader_fees(own_inputs) + payout
    await wait_until(lambda: wallet.balance().confirmed == expected, 60, what="final balance")
    assert settled.realized_pnl_sat == payout - opened.trader_margin_sat
    # the CET pays out the collateral to the sat: its own fee came with the funding output
    assert sum(o.value for o in cet.outputs) == offer.total_collateral
    return settled


def long_liquidation_usd(offer: OfferDlc) -> Fraction:
    """Where a long's margin less the fee is all lost: 1/p = 1/entry + (margin - fee)/notional."""
    margin = offer.total_collateral - offer.offer_collateral
    fee = QUANTITY * 100_000_000 * 100 // PRICE_CENTS * TAKER_FEE_BPS // 10_000
    notional = Fraction(QUANTITY * 100_000_000)
    return 1 / (Fraction(100, PRICE_CENTS) + Fraction(margin - fee) / notional)


@contextlib.asynccontextmanager
async def coordinator_wallet(system: System) -> AsyncIterator[Wallet]:
    """The DLC service's wallet, watched from its words (read only)."""
    source = ElectrumChainSource(system.electrum_servers, Network.REGTEST)
    await source.start()
    wallet = Wallet(system.coordinator_account, source, MemoryPersister())
    await wallet.start()
    try:
        yield wallet
    finally:
        await wallet.close()
        await source.close()


async def roll_over(system: System, trader: Trader, opened: TraderContract) -> TraderContract:
    """Drive the renewal of ``opened`` (asked for already) until the new contract is open;
    the old one is rolled over by the renewal transaction."""
    engine = trader.require_engine()

    async def renewal() -> TraderContract | None:
        with contextlib.suppress(GatewayUnavailable):
            await engine.run_once()
        return next((r for r in await trader.contract_rows() if r.renews == opened.id), None)

    await wait_until(renewal, 60, interval=0.5, what="renew_offer")
    renewed = await drive(system, trader, OPEN_OR_LATER, 120)
    assert renewed.renews == opened.id, renewed.note
    [old] = [r for r in await trader.contract_rows() if r.id == opened.id]
    assert T(old.state) is T.ROLLED_OVER and old.spend_txid == renewed.funding_txid, old.note
    return renewed


async def settle_renewed(
    system: System,
    trader: Trader,
    side: str,
    initial: int,
    opened: TraderContract,
    renewed: TraderContract,
    rollover_fee: int,
) -> TraderContract:
    """Drive the renewed contract to SETTLED; the wallet ends with exactly its payout less
    the opening's margin and fees: the renewal cost the trader nothing but the fee in its
    curve (the coordinator's inputs pay the renewal transaction)."""
    offer = RenewOffer.parse(bytes.fromhex(renewed.offer_hex))
    assert renewed.trader_margin_sat == opened.trader_margin_sat
    assert renewed.fee_sat == opened.fee_sat + rollover_fee
    settled = await drive(system, trader, frozenset({T.SETTLED}), past(renewed.maturity))
    assert settled.id == renewed.id and dt.datetime.now(dt.UTC) >= settled.maturity
    payout = expected_trader_payout(offer, side, system.price_usd * 100, rollover_fee)
    own_inputs = len([x for x in opened.reserved.split(",") if x])
    wallet = trader.require_wallet()
    expected = initial - opened.trader_margin_sat - trader_fees(own_inputs) + payout
    await wait_until(lambda: wallet.balance().confirmed == expected, 60, what="final balance")
    assert settled.realized_pnl_sat == payout - renewed.trader_margin_sat
    cet = parse_transaction(bytes.fromhex(settled.spend_tx_hex or ""))
    assert sum(o.value for o in cet.outputs) == offer.total_collateral
    return settled
