"""Hypothesis strategies: command sequences over a small market where every rule bites."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hypothesis import strategies as st

from tentenone_orderbook.market import MarketConfig
from tentenone_orderbook.orders import (
    AmendOrder,
    CancelOrder,
    DeclareMargin,
    OrderType,
    OrderView,
    PlaceOrder,
    Side,
    TimeInForce,
)

MID = 6_000_000
TICK = 100

# Small sizes, a tight exposure limit and a band of 6 ticks: so that
# refusals, the band, self-trade prevention and partial fills all happen.
CONFIG = MarketConfig(
    "BTCUSD-TEST",
    tick_size=TICK,
    lot_size=2,
    min_quantity=2,
    max_quantity=60,
    maker_fee_bps=2,
    taker_fee_bps=7,
    price_band_bps=1,
    max_exposure=120,
    house_traders=frozenset({"h0", "h1"}),
)
TRADERS = ("t0", "t1", "t2", "h0", "h1")

traders = st.sampled_from(TRADERS)
good_quantity = st.integers(1, 30).map(lambda n: 2 * n)
good_price = st.integers(-8, 8).map(lambda k: MID + k * TICK)
order_ids = st.integers(1, 12)
# One bad value per field (a wrong type among them); the engine must name the first.
_BAD = {
    "trader_id": ["", "x" * 65, 7],
    "side": ["buy", None],
    "quantity": [0, -2, 3, 62, 2.0, None],
    "leverage": [0, 11, 2.5],
    "price": [0, -TICK, MID + 1, 10**12, None, 6_000_000.0],
    "order_type": ["limit"],
    "time_in_force": ["gtc"],
    "client_order_id": ["", "x" * 65, 5],
    "available_margin_sat": [-1, 10**20, 5.0],
}


@st.composite
def place(draw: st.DrawFn) -> PlaceOrder:
    market = draw(st.integers(0, 5)) == 0
    tifs = [TimeInForce.IOC, TimeInForce.FOK] if market else [*TimeInForce, *[TimeInForce.GTC] * 4]
    return PlaceOrder(
        trader_id=draw(traders),
        side=draw(st.sampled_from(Side)),
        quantity=draw(good_quantity),
        leverage=draw(st.integers(1, 10)),
        price=None if market else draw(good_price),
        order_type=OrderType.MARKET if market else OrderType.LIMIT,
        time_in_force=draw(st.sampled_from(tifs)),
        client_order_id=draw(st.sampled_from([None, None, "c-1"])),
        available_margin_sat=draw(st.sampled_from([None, None, None, None, 30_000, 10**9])),
    )


@st.composite
def bad_place(draw: st.DrawFn) -> PlaceOrder:
    """A valid order with one field spoiled (market/GTC and priced markets included)."""
    cmd = draw(place())
    field = draw(st.sampled_from([*_BAD, "market_gtc", "market_price"]))
    if field == "market_gtc":
        return replace(cmd, order_type=OrderType.MARKET, price=None)
    if field == "market_price":
        return replace(cmd, order_type=OrderType.MARKET, time_in_force=TimeInForce.IOC)
    return replace(cmd, **{field: draw(st.sampled_from(_BAD[field]))})


maybe_quantity = st.one_of(st.none(), st.none(), *[good_quantity] * 4, st.sampled_from([0, 3, 62]))
maybe_price = st.one_of(st.none(), st.none(), *[good_price] * 4, st.sampled_from([MID + 1, -TICK]))
#: Cancels and amends from this trader are pointed at a live order by the driver.
OWNER = "<owner>"
owner_or_other = st.one_of(st.just(OWNER), st.just(OWNER), st.just(OWNER), traders)
cancel = st.builds(CancelOrder, trader_id=owner_or_other, order_id=order_ids)
amend = st.builds(
    AmendOrder,
    trader_id=owner_or_other,
    order_id=order_ids,
    quantity=maybe_quantity,
    price=maybe_price,
)
declare = st.builds(
    DeclareMargin,
    trader_id=traders,
    available_sat=st.sampled_from([0, 5_000, 60_000, 400_000, 10**9, 10**9, -1, 10**20]),
)
command = st.one_of(
    st.one_of(place(), place(), place(), place(), place(), place()),
    bad_place(),
    cancel,
    amend,
    amend,
    declare,
)
commands = st.lists(command, min_size=10, max_size=80)
# Start with margin declared, or most orders are (rightly) refused.
opening = [DeclareMargin(t, 10**9) for t in TRADERS[:2]] + [DeclareMargin("t2", 200_000)]


def resolve_owner(cmd: object, live: Sequence[OrderView]) -> object:
    """Point a cancel or amend addressed to ``OWNER`` at a live order (drawn id as index)."""
    if isinstance(cmd, CancelOrder | AmendOrder) and cmd.trader_id == OWNER:
        if not live:
            return replace(cmd, trader_id="t0")
        target = live[cmd.order_id % len(live)]
        return replace(cmd, trader_id=target.trader_id, order_id=target.order_id)
    return cmd
