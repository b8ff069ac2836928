"""Bad input over RPC: a clear error with its reason code, and the database as it was.

The service runs in-process on the real stack. Every refused command may add
one ``order.rejected`` event to the outbox (refused by the engine) or nothing
(refused by the bus before it reaches the book); orders, fills, accounts,
markets, the writer row and the transition log stay exactly as they were.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import STATE_TABLES, Seen, Start, runner_db, state_rows
from sqlalchemy import select

from tentenone.bus import Bus
from tentenone.errors import TentenoneError
from tentenone.testing import wait_until
from tentenone.wire import MalformedMessage
from tentenone.wire import orderbook as wire
from tentenone_orderbook.models import OrderbookTable

P = 6_000_000
TRADER_A = "a" * 64
TRADER_B = "b" * 64
MARGIN = 10**12
MAX_QUANTITY = 1_000


def _place(market_id: str, **change: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "market": market_id,
        "trader_id": TRADER_B,
        "side": "buy",
        "quantity": 10,
        "leverage": 2,
        "price": P - 500,
        "available_margin_sat": MARGIN,
    }
    fields.update(change)
    return {k: v for k, v in fields.items() if v is not _DROP}


_DROP = object()

#: (fields changed in a good limit buy, the reason code)
REFUSED_BY_THE_BOOK: list[tuple[dict[str, Any], str]] = [
    ({"quantity": 0}, "quantity_not_positive"),
    ({"quantity": -10}, "quantity_not_positive"),
    ({"quantity": MAX_QUANTITY + 1}, "quantity_above_maximum"),
    ({"quantity": 10**30}, "quantity_above_maximum"),  # beyond any database integer
    ({"price": P + 1}, "price_off_tick"),
    ({"price": 0}, "price_not_positive"),
    ({"price": -P}, "price_not_positive"),
    ({"price": 10**30}, "price_above_maximum"),
    ({"price": None}, "price_required"),
    ({"leverage": 0}, "leverage_out_of_range"),
    ({"leverage": -1}, "leverage_out_of_range"),
    ({"leverage": 11}, "leverage_out_of_range"),
    ({"order_type": "market", "price": P}, "price_not_allowed"),
    ({"order_type": "market", "price": None}, "invalid_time_in_force"),
    ({"available_margin_sat": 21 * 10**14 + 1}, "margin_out_of_range"),
    ({"available_margin_sat": 1}, "insufficient_margin"),
    ({"market": "btcusd1"}, "unknown_market"),
    ({"price": P, "time_in_force": "post_only"}, "post_only_would_take"),
    ({"price": P, "quantity": 20, "time_in_force": "fok"}, "fill_or_kill_unfilled"),
]

#: payloads the bus refuses before they reach the book (the wire model rejects them)
MALFORMED: list[dict[str, Any]] = [
    {"quantity": "10"},
    {"quantity": 10.0},
    {"quantity": None},
    {"leverage": True},
    {"price": 6_000_000.5},
    {"side": "up"},
    {"order_type": "stop"},
    {"time_in_force": "day"},
    {"trader_id": ""},
    {"trader_id": "x" * 65},
    {"market": "BTC USD"},
    {"market": ""},
    {"client_order_id": ""},
    {"available_margin_sat": -1},
    {"side": _DROP},
    {"quantity": _DROP},
    {"unexpected": 1},
]


async def _refused(bus: Bus, spec: Any, kwargs: dict[str, Any]) -> TentenoneError:
    with pytest.raises(TentenoneError) as info:
        await bus.call(spec.service, spec.name, kwargs=kwargs, timeout_s=15)
    return info.value


async def test_bad_input_over_rpc_is_refused_and_changes_no_state(
    start: Start, client: tuple[Bus, Seen]
) -> None:
    bus, seen = client
    runner = await start(max_quantity=MAX_QUANTITY)
    markets = await bus.request(wire.LIST_MARKETS, wire.ListMarketsRequest(), timeout_s=15)
    market = markets.markets[0].market
    resting = await bus.request(
        wire.PLACE_ORDER,
        wire.PlaceOrderRequest(
            market=market,
            trader_id=TRADER_A,
            side="sell",
            quantity=10,
            leverage=2,
            price=P,
            available_margin_sat=MARGIN,
        ),
        timeout_s=15,
    )
    await wait_until(lambda: seen.of(wire.OrderAccepted), 15, what="order.accepted")
    before = await state_rows(runner_db(runner))

    codes = []
    for change, code in REFUSED_BY_THE_BOOK:
        err = await _refused(bus, wire.PLACE_ORDER, _place(market, **change))
        assert err.code == code, (change, err)
        assert err.message and len(err.message) < 300
        codes.append(code)
    # The oversize refusal names the limit.
    err = await _refused(bus, wire.PLACE_ORDER, _place(market, quantity=MAX_QUANTITY + 1))
    assert str(MAX_QUANTITY) in err.message and "max_quantity" in err.message
    assert err.details["field"] == "quantity"
    codes.append(err.code)

    amend = {"market": market, "trader_id": TRADER_A, "order_id": resting.order.order_id}
    cancel = {"market": market, "trader_id": TRADER_B, "order_id": resting.order.order_id}
    bad_amends = [
        ({**amend, "quantity": 0}, "quantity_not_positive"),
        ({**amend, "quantity": MAX_QUANTITY + 10}, "quantity_above_maximum"),
        ({**amend, "price": P + 7}, "price_off_tick"),
        ({**amend}, "amend_empty"),
        ({**amend, "order_id": 999, "quantity": 5}, "order_not_found"),
        ({**cancel, "quantity": 5}, "order_not_found"),  # another trader's order
        ({**amend, "market": "btcusd1", "quantity": 5}, "unknown_market"),
    ]
    for kwargs, code in bad_amends:
        err = await _refused(bus, wire.AMEND_ORDER, kwargs)
        assert err.code == code, (kwargs, err)
        codes.append(code)
    for kwargs, code in [
        (cancel, "order_not_found"),
        ({**amend, "order_id": 999}, "order_not_found"),
        ({**amend, "market": "btcusd1"}, "unknown_market"),
    ]:
        assert (await _refused(bus, wire.CANCEL_ORDER, kwargs)).code == code

    for change in MALFORMED:
        err = await _refused(bus, wire.PLACE_ORDER, _place(market, **change))
        assert isinstance(err, MalformedMessage), (change, err)
    for kwargs in ({**amend, "order_id": 0}, {**amend, "order_id": "1"}, {}):
        assert isinstance(await _refused(bus, wire.CANCEL_ORDER, kwargs), MalformedMessage)

    # Refused places and amends are announced (``order.rejected``); the rest is unchanged.
    await wait_until(
        lambda: len(seen.of(wire.OrderRejected)) >= len(codes), 15, what="order.rejected"
    )
    assert sorted(r.reason for r in seen.of(wire.OrderRejected)) == sorted(codes)
    after = await state_rows(runner_db(runner))
    for name in STATE_TABLES:
        assert after[name] == before[name], f"{name} changed"
    assert after["outbox"][: len(before["outbox"])] == before["outbox"]
    added = after["outbox"][len(before["outbox"]) :]
    assert [e["event_type"] for e in added] == ["order.rejected"] * len(codes)
    book = await bus.request(wire.GET_BOOK, wire.BookRequest(market=market), timeout_s=15)
    assert [(lv.price, lv.quantity) for lv in book.asks] == [(P, 10)] and book.bids == []
    assert book.seq == 1


async def test_an_expired_market_refuses_orders_and_changes_nothing(
    start: Start, client: tuple[Bus, Seen]
) -> None:
    bus, _ = client
    runner = await start(expiry_schedule="every:2s", markets_ahead=1, roll_interval_s=0.1)
    first = (await bus.request(wire.LIST_MARKETS, wire.ListMarketsRequest(), timeout_s=15)).markets[
        0
    ]

    async def closed() -> bool:
        listed = await bus.request(wire.LIST_MARKETS, wire.ListMarketsRequest(), timeout_s=15)
        return any(m.market == first.market and m.status == "closed" for m in listed.markets)

    await wait_until(closed, 15, what=f"market {first.market} closed")
    orders_table = OrderbookTable.metadata.tables["orders"]
    err = await _refused(bus, wire.PLACE_ORDER, _place(first.market, price=P))
    assert err.code == "market_closed" and first.market in err.message
    err = await _refused(
        bus, wire.AMEND_ORDER, {"market": first.market, "trader_id": TRADER_A, "order_id": 1}
    )
    assert err.code == "market_closed"
    async with runner_db(runner).transaction() as session:
        conn = await session.connection()
        assert (await conn.execute(select(orders_table))).all() == []
