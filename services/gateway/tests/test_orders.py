"""Orders, the book and trades through the gateway, with the real order book service behind it."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import Stack, TraderKey, bearer
from .test_auth import _problem

MARGIN = 10**12


async def first_market(http: httpx.AsyncClient) -> str:
    markets = (await http.get("/api/v1/markets")).json()["markets"]
    market: str = markets[0]["market"]
    return market


def order(market: str, side: str, quantity: int, price: str | None, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "market": market,
        "side": side,
        "quantity": quantity,
        "leverage": 2,
        "available_margin_sat": MARGIN,
        **kw,
    }
    if price is not None:
        body["price"] = price
    return body


async def test_place_get_amend_cancel_and_list(stack_pg: Stack, http_factory) -> None:
    await stack_pg.orderbook()
    http = http_factory(await stack_pg.gateway())
    market = await first_market(http)
    alice = TraderKey()
    auth = bearer(await alice.sign_in(http))

    placed = await http.post(
        "/api/v1/orders",
        json=order(market, "buy", 10, "60000.50", client_order_id="c-1"),
        headers=auth,
    )
    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert body["duplicate"] is False and body["fills"] == []
    mine = body["order"]
    assert (mine["market"], mine["price"], mine["status"]) == (market, "60000.50", "open")
    assert "trader_id" not in mine
    url = f"/api/v1/orders/{market}/{mine['order_id']}"

    # The same client order id again: the same order, not a second one.
    again = await http.post(
        "/api/v1/orders",
        json=order(market, "buy", 10, "60000.50", client_order_id="c-1"),
        headers=auth,
    )
    assert again.status_code == 201 and again.json()["duplicate"] is True
    assert again.json()["order"]["order_id"] == mine["order_id"]

    assert (await http.get(url, headers=auth)).json()["quantity"] == 10
    amended = await http.patch(url, json={"quantity": 7}, headers=auth)
    assert amended.status_code == 200, amended.text
    assert amended.json()["quantity"] == 7
    book = (await http.get(f"/api/v1/markets/{market}/book", params={"depth": 5})).json()
    assert book["bids"] == [{"price": "60000.50", "quantity": 7, "orders": 1}]
    assert book["asks"] == [] and book["seq"] >= 2

    listed = (await http.get("/api/v1/orders", headers=auth)).json()["orders"]
    assert [o["order_id"] for o in listed] == [mine["order_id"]]
    cancelled = await http.delete(url, headers=auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await http.get("/api/v1/orders", headers=auth)).json()["orders"] == []
    every = await http.get("/api/v1/orders", params={"status": "all"}, headers=auth)
    assert [o["status"] for o in every.json()["orders"]] == ["cancelled"]
    twice = await http.delete(url, headers=auth)
    assert twice.status_code in (404, 409), twice.text


async def test_a_cross_shows_in_trades_fills_and_the_book(stack_pg: Stack, http_factory) -> None:
    await stack_pg.orderbook()
    http = http_factory(await stack_pg.gateway())
    market = await first_market(http)
    alice, bob = TraderKey(), TraderKey()
    as_alice = bearer(await alice.sign_in(http))
    as_bob = bearer(await bob.sign_in(http))
    ask = await http.post(
        "/api/v1/orders", json=order(market, "sell", 100, "60000"), headers=as_alice
    )
    assert ask.status_code == 201, ask.text
    bid = await http.post(
        "/api/v1/orders", json=order(market, "buy", 150, "60000.50"), headers=as_bob
    )
    assert bid.status_code == 201, bid.text
    (fill,) = bid.json()["fills"]
    assert (fill["price"], fill["quantity"], fill["liquidity"]) == ("60000.00", 100, "taker")

    trades = (await http.get(f"/api/v1/markets/{market}/trades")).json()["trades"]
    assert [(t["price"], t["quantity"], t["taker_side"]) for t in trades] == [
        ("60000.00", 100, "buy")
    ]
    assert "taker_trader_id" not in trades[0]
    (alice_fill,) = (await http.get("/api/v1/trades", headers=as_alice)).json()["fills"]
    (bob_fill,) = (await http.get("/api/v1/trades", headers=as_bob)).json()["fills"]
    assert (alice_fill["side"], alice_fill["liquidity"]) == ("sell", "maker")
    assert (bob_fill["side"], bob_fill["liquidity"]) == ("buy", "taker")
    assert alice_fill["trade_id"] == bob_fill["trade_id"] == trades[0]["trade_id"]
    book = (await http.get(f"/api/v1/markets/{market}/book")).json()
    assert book["asks"] == [] and book["bids"] == [
        {"price": "60000.50", "quantity": 50, "orders": 1}
    ]


async def test_order_book_refusals_keep_their_code(stack_pg: Stack, http_factory) -> None:
    await stack_pg.orderbook()
    http = http_factory(await stack_pg.gateway())
    market = await first_market(http)
    auth = bearer(await TraderKey().sign_in(http))
    off_tick = await http.post(
        "/api/v1/orders", json=order(market, "buy", 1, "60000.10"), headers=auth
    )
    _problem(off_tick, 422, "price_off_tick")
    poor = await http.post(
        "/api/v1/orders",
        json=order(market, "buy", 1000, "60000", available_margin_sat=1),
        headers=auth,
    )
    _problem(poor, 409, "insufficient_margin")
    unknown = await http.post(
        "/api/v1/orders", json=order("btcusd1", "buy", 1, "60000"), headers=auth
    )
    _problem(unknown, 404, "unknown_market")
    _problem(await http.get("/api/v1/markets/btcusd1/book"), 404, "unknown_market")
    assert (await http.get("/api/v1/orders", headers=auth)).json()["orders"] == []


async def test_the_markets_listed_are_the_order_books_open_markets(
    stack_pg: Stack, http_factory
) -> None:
    await stack_pg.orderbook()
    http = http_factory(await stack_pg.gateway())
    listed = (await http.get("/api/v1/markets")).json()["markets"]
    assert listed, "no market listed"
    for market in listed:
        book = await http.get(f"/api/v1/markets/{market['market']}/book")
        assert book.status_code == 200, (market, book.text)
        one = (await http.get(f"/api/v1/markets/{market['market']}")).json()
        assert one == market
    _problem(await http.get("/api/v1/markets/btcusd1"), 404, "not_found")
