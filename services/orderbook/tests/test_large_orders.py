"""Orders up to the configured maximum fill whole or are refused up front, never half-way.

On the real stack: the house rests 1,000,000 contracts over 20 price levels
(200 orders); a trader's order of the maximum size is refused whole when it
is over the limit, cannot fill entirely (fill-or-kill), needs more margin
than declared or would pass the coordinator's exposure limit, with the
database untouched; then one that fits takes all 200 orders in one command,
and every fill is stored and announced.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import STATE_TABLES, Seen, Start, runner_db, state_rows

from tentenone.bus import Bus
from tentenone.errors import TentenoneError
from tentenone.testing import wait_until
from tentenone.wire import orderbook as wire
from tentenone_orderbook.margin import margin_sat

P = 6_000_000
MAX = 1_000_000
LEVELS, PER_LEVEL = 20, 10  # 200 resting orders of 5,000 contracts
TRADER = "a" * 64
OTHER = "b" * 64
MARGIN = 10**12
TOP = P + (LEVELS - 1) * 50


def _req(trader: str, side: str, qty: int, price: int | None, **kw: Any) -> wire.PlaceOrderRequest:
    return wire.PlaceOrderRequest(
        market=kw.pop("market"),
        trader_id=trader,
        side=side,  # type: ignore[arg-type]
        quantity=qty,
        leverage=kw.pop("leverage", 10),
        price=price,
        available_margin_sat=kw.pop("available_margin_sat", MARGIN),
        **kw,
    )


async def _refused(bus: Bus, req: wire.PlaceOrderRequest) -> TentenoneError:
    with pytest.raises(TentenoneError) as info:
        await bus.request(wire.PLACE_ORDER, req, timeout_s=30)
    return info.value


async def test_maximum_size_orders_fill_whole_or_are_refused_up_front(
    start: Start, client: tuple[Bus, Seen]
) -> None:
    bus, seen = client
    runner = await start(max_quantity=MAX, max_exposure=MAX)
    markets = await bus.request(wire.LIST_MARKETS, wire.ListMarketsRequest(), timeout_s=15)
    m = markets.markets[0].market
    per_order = MAX // (LEVELS * PER_LEVEL)
    await asyncio.gather(
        *(
            bus.request(
                wire.PLACE_ORDER,
                _req("house", "sell", per_order, P + (i % LEVELS) * 50, market=m),
                timeout_s=30,
            )
            for i in range(LEVELS * PER_LEVEL)
        )
    )
    # A trader's resting buy counts against the coordinator's exposure.
    small = await bus.request(
        wire.PLACE_ORDER, _req(OTHER, "buy", 10, P - 5_000, market=m), timeout_s=30
    )
    await wait_until(
        lambda: len(seen.of(wire.OrderAccepted)) == LEVELS * PER_LEVEL + 1, 30, what="accepted"
    )
    before = await state_rows(runner_db(runner))

    # The taker's margin is that of each fill at its price (rounded up per fill).
    need = sum(margin_sat(per_order, P + (i % LEVELS) * 50, 10) for i in range(LEVELS * PER_LEVEL))
    refusals = [
        (_req(TRADER, "buy", MAX + 1, TOP, market=m), "quantity_above_maximum"),
        (
            _req(TRADER, "buy", MAX, TOP - 50, market=m, time_in_force="fok"),
            "fill_or_kill_unfilled",
        ),
        (
            _req(TRADER, "buy", MAX, TOP, market=m, available_margin_sat=need - 1),
            "insufficient_margin",
        ),
        (_req(TRADER, "buy", MAX, TOP, market=m), "exposure_limit_exceeded"),
    ]
    for req, code in refusals:
        err = await _refused(bus, req)
        assert err.code == code, err
    first = await _refused(bus, refusals[0][0])
    assert "max_quantity" in first.message and f"{MAX}" in first.message
    after = await state_rows(runner_db(runner))
    for name in STATE_TABLES:
        assert after[name] == before[name], f"{name} changed by a refused order"
    book = await bus.request(wire.GET_BOOK, wire.BookRequest(market=m, depth=50), timeout_s=15)
    assert sum(lv.quantity for lv in book.asks) == MAX and len(book.asks) == LEVELS

    # Without the other trader's buy the order fits: it takes all 200 orders at once.
    await bus.request(
        wire.CANCEL_ORDER,
        wire.CancelOrderRequest(market=m, trader_id=OTHER, order_id=small.order.order_id),
        timeout_s=15,
    )
    reply = await bus.request(
        wire.PLACE_ORDER,
        _req(TRADER, "buy", MAX, TOP, market=m, available_margin_sat=need, client_order_id="big"),
        timeout_s=30,
    )
    assert reply.order.status == "filled" and reply.order.filled == MAX
    assert len(reply.fills) == LEVELS * PER_LEVEL
    assert sum(f.quantity for f in reply.fills) == MAX
    assert sum(f.margin_sat for f in reply.fills) == need
    book = await bus.request(wire.GET_BOOK, wire.BookRequest(market=m, depth=50), timeout_s=15)
    assert book.asks == [] and book.bids == []
    stored = await state_rows(runner_db(runner))
    assert len(stored["fills"]) == LEVELS * PER_LEVEL
    assert sum(f["quantity"] for f in stored["fills"]) == MAX
    await wait_until(
        lambda: len(seen.of(wire.TradeMatched)) >= LEVELS * PER_LEVEL,
        30,
        what="trade.matched of every fill",
    )
    assert {t.trade_id for t in seen.of(wire.TradeMatched)} == {f.trade_id for f in reply.fills}
