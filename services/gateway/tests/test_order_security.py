"""Hostile input on the order routes, with the real order book behind the gateway: each refused
with the right status, and nothing changed in the order book (its orders and book checked)."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import Stack, TraderKey, bearer
from .test_auth import _problem
from .test_orders import first_market, order


async def _book(http: httpx.AsyncClient, market: str) -> dict[str, Any]:
    book: dict[str, Any] = (await http.get(f"/api/v1/markets/{market}/book")).json()
    return book


async def test_a_token_never_reaches_another_keys_orders(stack_pg: Stack, http_factory) -> None:
    await stack_pg.orderbook()
    http = http_factory(await stack_pg.gateway())
    market = await first_market(http)
    alice, mallory = TraderKey(), TraderKey()
    as_alice = bearer(await alice.sign_in(http))
    as_mallory = bearer(await mallory.sign_in(http))
    placed = await http.post(
        "/api/v1/orders",
        json=order(market, "buy", 10, "60000", client_order_id="alice-1"),
        headers=as_alice,
    )
    assert placed.status_code == 201, placed.text
    mine = placed.json()["order"]
    url = f"/api/v1/orders/{market}/{mine['order_id']}"
    before = await _book(http, market)

    for method, body in [("GET", None), ("DELETE", None), ("PATCH", {"quantity": 1})]:
        reply = await http.request(method, url, json=body, headers=as_mallory)
        _problem(reply, 404, "order_not_found")
    # Alice's client order id is Alice's: Mallory using it places Mallory's own order.
    same_id = await http.post(
        "/api/v1/orders",
        json=order(market, "sell", 1, "70000", client_order_id="alice-1"),
        headers=as_mallory,
    )
    assert same_id.status_code == 201 and same_id.json()["duplicate"] is False
    assert same_id.json()["order"]["order_id"] != mine["order_id"]
    listed = (await http.get("/api/v1/orders", headers=as_mallory)).json()["orders"]
    assert [o["order_id"] for o in listed] == [same_id.json()["order"]["order_id"]]
    assert (await http.get("/api/v1/trades", headers=as_mallory)).json() == {"fills": []}
    # Alice's order is as it was.
    again = (await http.get(url, headers=as_alice)).json()
    assert (again["quantity"], again["status"]) == (10, "open")
    assert (await _book(http, market))["bids"] == before["bids"]
    # Without a token: nothing at all.
    for method, path in [("GET", url), ("DELETE", url), ("GET", "/api/v1/orders")]:
        _problem(await http.request(method, path), 401, "token_invalid")
    no_token = await http.post("/api/v1/orders", json=order(market, "buy", 1, "60000"))
    _problem(no_token, 401, "token_invalid")


async def test_malformed_and_oversized_orders_change_nothing(stack_pg: Stack, http_factory) -> None:
    await stack_pg.orderbook()
    http = http_factory(await stack_pg.gateway(max_body_bytes=4096))
    market = await first_market(http)
    auth = bearer(await TraderKey().sign_in(http))
    good = order(market, "buy", 10, "60000")
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"content": b'{"market":"' + b"a" * 5000 + b'"}'}, 413, "payload_too_large"),
        (
            {"content": b"{}", "headers": {"content-type": "text/plain"}},
            415,
            "unsupported_media_type",
        ),
        ({"content": b"{not json"}, 422, "invalid_input"),
        ({"content": b"[]"}, 422, "invalid_input"),
        ({"json": {**good, "quantity": "10"}}, 422, "invalid_input"),
        ({"json": {**good, "quantity": 10.5}}, 422, "invalid_input"),
        ({"json": {**good, "quantity": 0}}, 422, "invalid_input"),
        ({"json": {**good, "quantity": -5}}, 422, "invalid_input"),
        ({"json": {**good, "price": 60000}}, 422, "invalid_input"),
        ({"json": {**good, "price": "60000.001"}}, 422, "invalid_input"),
        ({"json": {**good, "price": "-1"}}, 422, "invalid_input"),
        ({"json": {**good, "side": "both"}}, 422, "invalid_input"),
        ({"json": {**good, "leverage": 0}}, 422, "invalid_input"),
        ({"json": {**good, "trader_id": "house"}}, 422, "invalid_input"),
        ({"json": {**good, "market": "BTC; DROP"}}, 422, "invalid_input"),
        ({"json": {**good, "available_margin_sat": -1}}, 422, "invalid_input"),
        ({"json": {**good, "client_order_id": "x" * 65}}, 422, "invalid_input"),
    ]
    for kwargs, status, code in cases:
        headers = {"content-type": "application/json", **kwargs.pop("headers", {}), **auth}
        reply = await http.post("/api/v1/orders", headers=headers, **kwargs)
        _problem(reply, status, code)
    bad_amend = await http.patch(f"/api/v1/orders/{market}/1", json={}, headers=auth)
    _problem(bad_amend, 422, "invalid_input")
    _problem(await http.get(f"/api/v1/orders/{market}/0", headers=auth), 422, "invalid_input")
    assert (await http.get("/api/v1/orders", params={"status": "all"}, headers=auth)).json() == {
        "orders": []
    }
    book = await _book(http, market)
    assert (book["bids"], book["asks"], book["seq"]) == ([], [], 0)


async def test_an_order_flood_is_cut_with_retry_after(stack_pg: Stack, http_factory) -> None:
    await stack_pg.orderbook()
    http = http_factory(await stack_pg.gateway(key_burst=5, key_per_s=0.01))
    market = await first_market(http)
    alice = TraderKey()
    auth = bearer(await alice.sign_in(http))
    statuses = []
    for i in range(8):
        body = order(market, "buy", 1, f"{60000 + i}", client_order_id=f"f-{i}")
        statuses.append((await http.post("/api/v1/orders", json=body, headers=auth)).status_code)
    assert statuses == [201] * 5 + [429] * 3
    flood = await http.post("/api/v1/orders", json=order(market, "buy", 1, "1"), headers=auth)
    body = _problem(flood, 429, "rate_limited")
    assert int(flood.headers["retry-after"]) >= 1 and body["details"]["limit"] == "key"
    # Only the five let through reached the order book.
    book = await _book(http, market)
    assert sum(level["quantity"] for level in book["bids"]) == 5
