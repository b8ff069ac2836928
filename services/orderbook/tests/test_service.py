"""The order book service on the real stack: RabbitMQ (a vhost per test) and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import Seen, Start

from tentenone.bus import Bus
from tentenone.errors import TentenoneError
from tentenone.market.schedule import ExpirySchedule
from tentenone.store import utcnow
from tentenone.testing import wait_until
from tentenone.wire import MalformedMessage
from tentenone.wire import orderbook as wire
from tentenone_orderbook.errors import (
    InsufficientMargin,
    OrderNotFound,
    PriceOffTick,
    QuantityAboveMaximum,
)
from tentenone_orderbook.markets import UnknownMarket

P = 6_000_000
TRADER_A = "a" * 64
TRADER_B = "b" * 64
MARGIN = 10**12


async def _market(bus: Bus) -> str:
    markets = await bus.request(wire.LIST_MARKETS, wire.ListMarketsRequest(), timeout_s=10)
    return markets.markets[0].market


def _place(market: str, trader: str, side: str, qty: int, price: int | None, **kw: Any) -> Any:
    return wire.PlaceOrderRequest(
        market=market,
        trader_id=trader,
        side=side,  # type: ignore[arg-type]
        quantity=qty,
        leverage=kw.pop("leverage", 2),
        price=price,
        available_margin_sat=kw.pop("available_margin_sat", MARGIN),
        **kw,
    )


async def _request(bus: Bus, spec: Any, req: Any) -> Any:
    return await bus.request(spec, req, timeout_s=15)


async def test_markets_follow_the_expiry_schedule(start: Start, client: tuple[Bus, Seen]) -> None:
    bus, _ = client
    await start(markets_ahead=3)
    markets = (await _request(bus, wire.LIST_MARKETS, wire.ListMarketsRequest())).markets
    schedule = ExpirySchedule.parse("weekly:fri@08:00")
    expiries = schedule.upcoming(utcnow(), 3)
    assert [m.market for m in markets] == [schedule.event_id(e) for e in expiries]
    assert {m.status for m in markets} == {"open"}
    assert markets[0].tick_size == 50 and markets[0].max_quantity == 1_000_000


async def test_place_cross_and_everything_that_follows(
    start: Start, client: tuple[Bus, Seen]
) -> None:
    bus, seen = client
    await start()
    market = await _market(bus)
    ask = await _request(bus, wire.PLACE_ORDER, _place(market, TRADER_A, "sell", 100, P))
    assert ask.order.status == "open" and ask.order.order_id == 1 and not ask.fills
    bid = await _request(
        bus, wire.PLACE_ORDER, _place(market, TRADER_B, "buy", 150, P + 100, leverage=1)
    )
    assert bid.order.status == "partially_filled" and bid.order.filled == 100
    (fill,) = bid.fills
    assert (fill.price, fill.quantity, fill.liquidity) == (P, 100, "taker")
    assert (fill.margin_sat, fill.fee_sat) == (166_667, 84)

    book = await _request(bus, wire.GET_BOOK, wire.BookRequest(market=market, depth=5))
    assert [(lv.price, lv.quantity) for lv in book.bids] == [(P + 100, 50)]
    assert book.asks == []
    got = await _request(
        bus, wire.GET_ORDER, wire.GetOrderRequest(market=market, trader_id=TRADER_A, order_id=1)
    )
    assert got.status == "filled" and got.remaining == 0
    listed = await _request(
        bus, wire.LIST_ORDERS, wire.ListOrdersRequest(trader_id=TRADER_B, market=market)
    )
    assert [o.order_id for o in listed.orders] == [2]

    await wait_until(lambda: seen.of(wire.TradeMatched), 15, what="trade.matched")
    (trade,) = seen.of(wire.TradeMatched)
    assert trade.market == market and trade.trade_id == f"{market}:1"
    assert (trade.taker_side, trade.taker_trader_id, trade.maker_trader_id) == (
        "long",
        TRADER_B,
        TRADER_A,
    )
    assert (trade.taker_leverage, trade.maker_leverage) == (1, 2)
    assert (trade.maker_margin_sat, trade.maker_fee_sat) == (83_334, 34)
    await wait_until(lambda: len(seen.of(wire.BookDeltaEvent)) >= 3, 15, what="3 deltas")
    deltas = seen.of(wire.BookDeltaEvent)
    assert [d.seq for d in deltas] == [1, 2, 3]
    assert [(d.side, d.quantity) for d in deltas] == [("sell", 100), ("sell", 0), ("buy", 50)]
    kinds = [type(e).__name__ for _, e in seen.events if not isinstance(e, wire.BookDeltaEvent)]
    assert kinds == [
        "OrderAccepted",
        "OrderAccepted",
        "TradeMatched",
        "OrderFilled",
        "OrderPartiallyFilled",
    ]


async def test_the_same_client_order_id_gives_the_same_order(
    start: Start, client: tuple[Bus, Seen]
) -> None:
    bus, seen = client
    await start()
    market = await _market(bus)
    req = _place(market, TRADER_A, "buy", 10, P, client_order_id="c-1")
    # Concurrent duplicates land in one batch or in several: one order either way.
    replies = await asyncio.gather(*(_request(bus, wire.PLACE_ORDER, req) for _ in range(5)))
    assert {r.order.order_id for r in replies} == {1}
    assert sorted(r.duplicate for r in replies) == [False, True, True, True, True]
    again = await _request(bus, wire.PLACE_ORDER, req.model_copy(update={"quantity": 20}))
    assert again.duplicate and again.order.quantity == 10
    listed = await _request(bus, wire.LIST_ORDERS, wire.ListOrdersRequest(trader_id=TRADER_A))
    assert len(listed.orders) == 1
    await wait_until(lambda: seen.of(wire.OrderAccepted), 15, what="order.accepted")
    assert len(seen.of(wire.OrderAccepted)) == 1


async def test_bad_input_is_refused_with_a_code_and_changes_nothing(
    start: Start, client: tuple[Bus, Seen]
) -> None:
    bus, seen = client
    await start(max_quantity=1_000)
    market = await _market(bus)
    await _request(bus, wire.PLACE_ORDER, _place(market, TRADER_A, "sell", 10, P))
    cases: list[tuple[Any, type[TentenoneError]]] = [
        (_place(market, TRADER_A, "buy", 1_001, P), QuantityAboveMaximum),
        (_place(market, TRADER_A, "buy", 10, P + 1), PriceOffTick),
        (_place("btcusd1", TRADER_A, "buy", 10, P), UnknownMarket),
        (_place(market, TRADER_B, "buy", 10, P, available_margin_sat=1), InsufficientMargin),
    ]
    for req, error in cases:
        with pytest.raises(error) as info:
            await _request(bus, wire.PLACE_ORDER, req)
        assert info.value.code == error.code
    with pytest.raises(OrderNotFound):
        await _request(
            bus,
            wire.CANCEL_ORDER,
            wire.CancelOrderRequest(market=market, trader_id=TRADER_B, order_id=1),
        )
    # A malformed payload never reaches the book: the bus refuses it.
    for kwargs in (
        {"market": market, "trader_id": TRADER_A, "side": "buy", "quantity": "10"},
        {"market": market, "trader_id": TRADER_A, "side": "up", "quantity": 1, "leverage": 1},
        {"market": market},
    ):
        with pytest.raises(MalformedMessage):
            await bus.call("orderbook", "place_order", kwargs=kwargs, timeout_s=15)
    book = await _request(bus, wire.GET_BOOK, wire.BookRequest(market=market))
    assert [(lv.price, lv.quantity) for lv in book.asks] == [(P, 10)] and book.seq == 1
    await wait_until(lambda: len(seen.of(wire.OrderRejected)) == 4, 15, what="4 rejections")
    assert [r.reason for r in seen.of(wire.OrderRejected)] == [e.code for _, e in cases]


async def test_a_restart_rebuilds_the_same_book(start: Start, client: tuple[Bus, Seen]) -> None:
    bus, _ = client
    runner = await start()
    market = await _market(bus)
    for i in range(20):
        side, price = ("buy", P - 50 * (i % 5)) if i % 2 else ("sell", P + 50 * (i % 7))
        await _request(bus, wire.PLACE_ORDER, _place(market, f"t{i % 3}", side, 10 + i, price))
    open_t0 = await _request(bus, wire.LIST_ORDERS, wire.ListOrdersRequest(trader_id="t0"))
    target = open_t0.orders[-1]
    amended = await _request(
        bus,
        wire.AMEND_ORDER,
        wire.AmendOrderRequest(
            market=market, trader_id="t0", order_id=target.order_id, quantity=target.filled + 1
        ),
    )
    assert amended.remaining == 1
    before = await _request(bus, wire.GET_BOOK, wire.BookRequest(market=market, depth=50))
    engine_before = runner.ctx.extras["sequencer"].markets.get(market).engine.snapshot()  # type: ignore[union-attr]
    await runner.stop(grace_s=3)
    again = await start()
    after = await _request(bus, wire.GET_BOOK, wire.BookRequest(market=market, depth=50))
    assert after == before
    engine_after = again.ctx.extras["sequencer"].markets.get(market).engine.snapshot()  # type: ignore[union-attr]
    assert engine_after == engine_before
