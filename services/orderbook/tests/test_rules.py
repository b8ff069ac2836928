"""Each matching rule on a small example whose outcome is worked out by hand."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tentenone_orderbook.errors import (
    AmendBelowFilled,
    ExposureLimitExceeded,
    FillOrKillUnfilled,
    InsufficientMargin,
    OrderNotFound,
    PostOnlyWouldTake,
    QuantityAboveMaximum,
)
from tentenone_orderbook.events import CommandResult, PriceLevel
from tentenone_orderbook.market import MarketConfig
from tentenone_orderbook.matching import MatchingEngine
from tentenone_orderbook.orders import (
    AmendOrder,
    CancelOrder,
    CancelReason,
    DeclareMargin,
    OrderStatus,
    OrderType,
    PlaceOrder,
    Side,
    TimeInForce,
)

BUY, SELL = Side.BUY, Side.SELL
P = 6_000_000  # 60,000.00 USD
CONFIG = MarketConfig("BTCUSD-RULES", house_traders=frozenset({"mm", "mm2"}))


def _engine(**overrides: Any) -> MatchingEngine:
    engine = MatchingEngine(replace(CONFIG, **overrides))
    for trader in ("a", "b", "c"):
        engine.declare_margin(DeclareMargin(trader, 10**10))
    return engine


def _limit(
    trader: str, side: Side, qty: int, price: int, tif: TimeInForce = TimeInForce.GTC, lev: int = 1
) -> PlaceOrder:
    return PlaceOrder(trader, side, qty, lev, price=price, time_in_force=tif)


def _market(trader: str, side: Side, qty: int, tif: TimeInForce = TimeInForce.IOC) -> PlaceOrder:
    return PlaceOrder(trader, side, qty, 1, order_type=OrderType.MARKET, time_in_force=tif)


def _oid(result: CommandResult) -> int:
    return result.order.order_id


def test_price_then_time_priority_and_fills_at_the_makers_price() -> None:
    e = _engine()
    first = _oid(e.place(_limit("a", SELL, 10, P + 100)))
    second = _oid(e.place(_limit("b", SELL, 10, P + 100)))
    better = _oid(e.place(_limit("a", SELL, 10, P + 50)))
    r = e.place(_limit("c", BUY, 25, P + 200))
    assert [(f.maker_order_id, f.price, f.quantity) for f in r.fills] == [
        (better, P + 50, 10),
        (first, P + 100, 10),
        (second, P + 100, 5),
    ]
    assert r.order.status is OrderStatus.FILLED
    assert r.fills[-1].maker_remaining == 5
    assert e.order(second).status is OrderStatus.PARTIALLY_FILLED  # type: ignore[union-attr]
    assert e.depth().asks == (PriceLevel(P + 100, 5, 1),)


def test_the_rest_of_a_crossing_limit_order_rests_at_its_price() -> None:
    e = _engine()
    e.place(_limit("a", SELL, 10, P))
    r = e.place(_limit("b", BUY, 30, P + 100))
    assert r.order.filled == 10 and r.order.status is OrderStatus.PARTIALLY_FILLED
    assert e.depth().bids == (PriceLevel(P + 100, 20, 1),)
    assert e.depth().asks == ()
    # One delta per level touched, then one for the rest; numbered without gaps.
    assert [(d.seq, d.side, d.quantity) for d in r.deltas] == [(2, SELL, 0), (3, BUY, 20)]
    assert r.order.priority == 3


def test_ioc_takes_what_it_can_and_cancels_the_rest() -> None:
    e = _engine()
    e.place(_limit("a", SELL, 10, P))
    r = e.place(_limit("b", BUY, 30, P, TimeInForce.IOC))
    assert r.order.filled == 10
    assert r.order.status is OrderStatus.CANCELLED
    assert r.order.cancel_reason is CancelReason.IMMEDIATE_OR_CANCEL
    assert e.depth().bids == ()


def test_fok_fills_entirely_or_is_refused_without_a_trace() -> None:
    e = _engine()
    e.place(_limit("a", SELL, 10, P))
    e.place(_limit("a", SELL, 10, P + 50))
    before = e.snapshot()
    with pytest.raises(FillOrKillUnfilled) as info:
        e.place(_limit("b", BUY, 21, P + 50, TimeInForce.FOK))
    assert info.value.details == {"quantity": 21, "fillable": 20}
    assert e.snapshot() == before
    r = e.place(_limit("b", BUY, 20, P + 50, TimeInForce.FOK))
    assert r.order.status is OrderStatus.FILLED and len(r.fills) == 2


def test_post_only_rests_or_is_refused_if_it_would_take() -> None:
    e = _engine()
    e.place(_limit("a", SELL, 10, P))
    before = e.snapshot()
    with pytest.raises(PostOnlyWouldTake):
        e.place(_limit("b", BUY, 5, P, TimeInForce.POST_ONLY))
    assert e.snapshot() == before
    r = e.place(_limit("b", BUY, 5, P - 50, TimeInForce.POST_ONLY))
    assert r.order.status is OrderStatus.OPEN and not r.fills


def test_market_order_stops_at_the_price_band() -> None:
    e = _engine(price_band_bps=10)  # 0.1% of 60,000 = 60 USD
    e.place(_limit("a", SELL, 10, P))
    e.place(_limit("a", SELL, 10, P + 6_000))  # exactly at the band: taken
    e.place(_limit("a", SELL, 10, P + 6_050))  # beyond it: left alone
    r = e.place(_market("b", BUY, 50))
    assert [f.price for f in r.fills] == [P, P + 6_000]
    assert r.order.cancel_reason is CancelReason.PRICE_BAND
    assert e.depth().asks == (PriceLevel(P + 6_050, 10, 1),)


def test_market_order_into_an_empty_book() -> None:
    e = _engine()
    r = e.place(_market("b", BUY, 5))
    assert r.order.status is OrderStatus.CANCELLED and not r.fills
    assert r.order.cancel_reason is CancelReason.IMMEDIATE_OR_CANCEL
    with pytest.raises(FillOrKillUnfilled):
        e.place(_market("b", BUY, 5, TimeInForce.FOK))


def test_self_trade_prevention_cancels_the_resting_order_and_keeps_matching() -> None:
    e = _engine()
    own = _oid(e.place(_limit("a", SELL, 10, P)))
    other = _oid(e.place(_limit("b", SELL, 10, P)))
    r = e.place(_limit("a", BUY, 10, P))
    assert [v.order_id for v in r.cancelled] == [own]
    assert r.cancelled[0].cancel_reason is CancelReason.SELF_TRADE
    assert [(f.maker_order_id, f.quantity) for f in r.fills] == [(other, 10)]
    assert e.account("a").reserved_sat == 0  # the cancelled order's margin is released


def test_two_house_accounts_never_trade_with_each_other() -> None:
    e = _engine()
    mm_order = _oid(e.place(_limit("mm", SELL, 10, P)))
    r = e.place(_limit("mm2", BUY, 10, P))
    assert not r.fills and [v.order_id for v in r.cancelled] == [mm_order]
    assert r.order.status is OrderStatus.OPEN


def test_margin_fees_and_positions_of_a_fill() -> None:
    e = _engine(maker_fee_bps=2, taker_fee_bps=5)
    e.place(_limit("a", SELL, 100, P, lev=2))
    # 100 USD at 60,000 USD = 166,666.67 sat: margin 83,333.33 at 2x -> 83,334;
    # at 1x 166,667. Fees: 5 bps = 83.33 -> 84, 2 bps = 33.33 -> 34 (all rounded up).
    assert e.account("a").reserved_sat == 83_334
    r = e.place(_limit("b", BUY, 100, P, lev=1))
    (fill,) = r.fills
    assert (fill.taker_margin_sat, fill.maker_margin_sat) == (166_667, 83_334)
    assert (fill.taker_fee_sat, fill.maker_fee_sat) == (84, 34)
    a, b = e.account("a"), e.account("b")
    assert (a.reserved_sat, a.committed_sat, a.position, a.fees_sat) == (0, 83_334, -100, 34)
    assert (b.reserved_sat, b.committed_sat, b.position, b.fees_sat) == (0, 166_667, 100, 84)
    assert e.coordinator_position == 0  # trader against trader: the coordinator is flat


def test_partial_fills_release_exactly_the_orders_reserved_margin() -> None:
    e = _engine()
    maker = e.place(_limit("a", SELL, 7, P + 50, lev=3)).order
    margins = [e.place(_limit("b", BUY, 2, P + 50)).fills[0].maker_margin_sat for _ in range(3)]
    margins.append(e.place(_limit("b", BUY, 1, P + 50)).fills[0].maker_margin_sat)
    assert sum(margins) == maker.reserved_margin_sat
    assert e.account("a").committed_sat == maker.reserved_margin_sat


def test_margin_check_against_the_declared_amount() -> None:
    e = _engine()
    e.declare_margin(DeclareMargin("d", 83_333))
    before = e.snapshot()
    with pytest.raises(InsufficientMargin) as info:
        e.place(_limit("d", BUY, 100, P, lev=2))
    assert info.value.details["required_sat"] == 83_334
    assert e.snapshot() == before
    e.declare_margin(DeclareMargin("d", 83_334))
    e.place(_limit("d", BUY, 100, P, lev=2))
    with pytest.raises(InsufficientMargin):
        e.place(_limit("d", BUY, 1, P, lev=10))


def test_fills_count_against_the_declaration_until_the_next_one() -> None:
    e = _engine()
    e.declare_margin(DeclareMargin("d", 166_667))
    e.place(_limit("a", SELL, 200, P))
    e.place(_limit("d", BUY, 100, P))  # fills: 166,667 sat committed
    with pytest.raises(InsufficientMargin):
        e.place(_limit("d", BUY, 1, P))
    view = e.declare_margin(DeclareMargin("d", 166_667))
    assert (view.committed_sat, view.free_sat) == (0, 166_667)
    assert e.place(_limit("d", BUY, 100, P)).order.status is OrderStatus.FILLED


def test_house_orders_need_no_declared_margin() -> None:
    e = _engine()
    assert e.place(_limit("mm", SELL, 1_000, P)).order.status is OrderStatus.OPEN


def test_coordinator_exposure_limit() -> None:
    e = _engine(max_exposure=100)
    e.place(_limit("mm", SELL, 1_000, P + 100))
    e.place(_limit("a", BUY, 60, P))  # worst case: the coordinator sells 60
    before = e.snapshot()
    with pytest.raises(ExposureLimitExceeded) as info:
        e.place(_limit("b", BUY, 50, P))
    assert info.value.details == {"worst_case": 110, "max_exposure": 100}
    assert e.snapshot() == before
    e.place(_limit("b", SELL, 100, P + 200))  # the other side has its own room
    r = e.place(_limit("b", BUY, 40, P + 100))  # fills against the house: coordinator -40
    assert e.coordinator_position == -40 and r.order.status is OrderStatus.FILLED
    with pytest.raises(ExposureLimitExceeded):
        e.place(_market("c", BUY, 1))


def test_amend_counts_the_orders_own_old_size_once() -> None:
    e = _engine(max_exposure=100)
    sell = _oid(e.place(_limit("a", SELL, 80, P + 100)))
    # 80 open -> 100: the old 80 is released, so 100 fits exactly.
    r = e.amend(AmendOrder("a", sell, quantity=100))
    assert r.order.quantity == 100
    with pytest.raises(ExposureLimitExceeded):
        e.amend(AmendOrder("a", sell, quantity=102))


def test_amend_down_keeps_priority_up_or_reprice_loses_it() -> None:
    e = _engine()
    first = _oid(e.place(_limit("a", SELL, 10, P)))
    second = _oid(e.place(_limit("b", SELL, 10, P)))
    r = e.amend(AmendOrder("a", first, quantity=6))
    assert r.order.priority == 1 and r.order.quantity == 6
    assert e.place(_limit("c", BUY, 1, P)).fills[0].maker_order_id == first
    e.amend(AmendOrder("a", first, quantity=12))  # up: to the back of the queue
    assert e.place(_limit("c", BUY, 1, P)).fills[0].maker_order_id == second
    assert e.order(first).filled == 1  # type: ignore[union-attr]
    assert e.order(first).remaining == 11  # type: ignore[union-attr]


def test_amend_to_a_crossing_price_matches() -> None:
    e = _engine()
    e.place(_limit("a", SELL, 10, P + 100))
    bid = _oid(e.place(_limit("b", BUY, 15, P)))
    r = e.amend(AmendOrder("b", bid, price=P + 100))
    assert r.order.order_id == bid and r.order.filled == 10 and r.order.remaining == 5
    assert e.depth().bids == (PriceLevel(P + 100, 5, 1),)
    with pytest.raises(AmendBelowFilled):
        e.amend(AmendOrder("b", bid, quantity=10))


def test_post_only_amend_that_would_cross_is_refused() -> None:
    e = _engine()
    e.place(_limit("a", SELL, 10, P + 100))
    bid = _oid(e.place(_limit("b", BUY, 10, P, TimeInForce.POST_ONLY)))
    before = e.snapshot()
    with pytest.raises(PostOnlyWouldTake):
        e.amend(AmendOrder("b", bid, price=P + 100))
    assert e.snapshot() == before


def test_cancel_only_by_the_owner() -> None:
    e = _engine()
    oid = _oid(e.place(_limit("a", SELL, 10, P)))
    before = e.snapshot()
    with pytest.raises(OrderNotFound):
        e.cancel(CancelOrder("b", oid))
    assert e.snapshot() == before
    r = e.cancel(CancelOrder("a", oid))
    assert r.order.status is OrderStatus.CANCELLED
    assert r.order.cancel_reason is CancelReason.REQUESTED
    assert e.depth().asks == () and e.account("a").reserved_sat == 0
    with pytest.raises(OrderNotFound):
        e.cancel(CancelOrder("a", oid))


def test_a_maximum_size_order_fills_whole_or_is_refused_naming_the_limit() -> None:
    e = _engine(max_exposure=10**8)
    e.declare_margin(DeclareMargin("whale", 10**12))
    for i in range(200):  # 1,000,000 contracts over 200 makers and 20 levels
        e.place(_limit("mm", SELL, 5_000, P + 50 * (i % 20)))
    with pytest.raises(QuantityAboveMaximum) as info:
        e.place(_limit("whale", BUY, 1_000_001, P + 1_000))
    assert "1000000" in info.value.message and "max_quantity" in info.value.message
    with pytest.raises(FillOrKillUnfilled):
        e.place(_limit("whale", BUY, 1_000_000, P + 50 * 18, TimeInForce.FOK))
    r = e.place(_limit("whale", BUY, 1_000_000, P + 1_000, TimeInForce.FOK))
    assert r.order.status is OrderStatus.FILLED and len(r.fills) == 200
    assert sum(f.quantity for f in r.fills) == 1_000_000
    assert e.depth().asks == () and e.coordinator_position == -1_000_000


def test_a_large_order_beyond_the_traders_margin_is_refused_up_front() -> None:
    e = _engine()
    e.declare_margin(DeclareMargin("d", 10**6))
    for i in range(10):
        e.place(_limit("mm", SELL, 100_000, P + 50 * i))
    before = e.snapshot()
    with pytest.raises(InsufficientMargin):
        e.place(_market("d", BUY, 1_000_000))
    assert e.snapshot() == before


def test_cancel_all_empties_the_book_and_releases_margin() -> None:
    e = _engine()
    e.place(_limit("a", SELL, 10, P + 100))
    e.place(_limit("a", SELL, 5, P + 100))
    e.place(_limit("b", BUY, 7, P, lev=3))
    cancelled, deltas = e.cancel_all()
    assert sorted(v.order_id for v in cancelled) == [1, 2, 3]
    assert {v.cancel_reason for v in cancelled} == {CancelReason.MARKET_CLOSED}
    assert [(d.price, d.quantity) for d in deltas] == [(P, 0), (P + 100, 0)]
    assert e.depth().bids == e.depth().asks == ()
    assert e.account("a").reserved_sat == e.account("b").reserved_sat == 0
    assert MatchingEngine(e.config, e.snapshot()).snapshot() == e.snapshot()
