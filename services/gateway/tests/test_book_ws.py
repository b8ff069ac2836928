"""The order book's channels on the WebSocket, with the real order book service behind it:
resume with no missed or repeated update, own orders only, a thousand subscribers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tentenone.service import ServiceRunner
from tentenone.testing import wait_until

from .conftest import Stack, TraderKey, WsClient, bearer
from .test_orders import first_market, order
from .test_websocket import _signed_in, _state

#: limits out of the way: these tests are about the channels
OPEN_LIMITS: dict[str, Any] = {
    "ip_burst": 100_000,
    "ip_per_s": 100_000,
    "key_burst": 100_000,
    "key_per_s": 100_000,
}


async def _bids(http: httpx.AsyncClient, auth: dict[str, str], market: str, prices: range) -> None:
    """One new bid level per price: one book delta each."""
    for cents in prices:
        price = f"{cents // 100}.{cents % 100:02d}"
        reply = await http.post("/api/v1/orders", json=order(market, "buy", 1, price), headers=auth)
        assert reply.status_code == 201, reply.text


async def _deltas(
    ws: WsClient, channel: str, count: int, after: int | None = None
) -> list[dict[str, Any]]:
    """``count`` updates; a ``subscribed`` among them must be at the last seq seen.

    (Events reach the gateway a moment after the REST answer: a resume may catch
    up on some and get the rest live.)
    """
    out: list[dict[str, Any]] = []
    while len(out) < count:
        message = await ws.recv()
        assert message["channel"] == channel, message
        if message["type"] == "subscribed":
            assert message["seq"] == (out[-1]["seq"] if out else after), message
            continue
        assert message["type"] == "update", message
        out.append(message)
    return out


def _apply(book: dict[str, list[dict[str, Any]]], delta: dict[str, Any]) -> None:
    side = book["bids" if delta["side"] == "buy" else "asks"]
    side[:] = [lv for lv in side if lv["price"] != delta["price"]]
    if delta["quantity"]:
        side.append({k: delta[k] for k in ("price", "quantity", "orders")})
    side.sort(key=lambda lv: float(lv["price"]), reverse=delta["side"] == "buy")


async def test_book_resume_misses_and_repeats_nothing(stack_pg: Stack, http_factory) -> None:
    await stack_pg.orderbook()
    gw = await stack_pg.gateway(**OPEN_LIMITS)
    http = http_factory(gw)
    market = await first_market(http)
    channel = f"book:{market}"
    auth = bearer(await TraderKey().sign_in(http))
    await _bids(http, auth, market, range(5_000_000, 5_000_150, 50))

    ws = await WsClient.open(gw)
    await ws.send(op="subscribe", channels=[channel])
    snap = await ws.expect("snapshot", channel=channel)
    assert len(snap["data"]["bids"]) == 3
    await ws.expect("subscribed", channel=channel, seq=snap["seq"])
    book = snap["data"]
    await _bids(http, auth, market, range(5_000_150, 5_000_400, 50))
    seen = await _deltas(ws, channel, 5)
    await ws.close()
    # Away: five more changes. Back with the last seq seen: exactly those five.
    await _bids(http, auth, market, range(5_000_400, 5_000_650, 50))
    ws = await WsClient.open(gw)
    await ws.send(op="subscribe", channels=[channel], resume={channel: seen[-1]["seq"]})
    seen += await _deltas(ws, channel, 5, after=seen[-1]["seq"])
    await _bids(http, auth, market, range(5_000_650, 5_000_700, 50))
    seen += await _deltas(ws, channel, 1, after=seen[-1]["seq"])
    assert [m["seq"] for m in seen] == list(range(snap["seq"] + 1, snap["seq"] + 12))
    for message in seen:
        _apply(book, message["data"])
    rest = (await http.get(f"/api/v1/markets/{market}/book", params={"depth": 50})).json()
    assert rest["seq"] == seen[-1]["seq"]
    assert (book["bids"], book["asks"]) == (rest["bids"], rest["asks"])
    await ws.close()


async def test_trades_and_only_your_own_orders(stack_pg: Stack, http_factory) -> None:
    await stack_pg.orderbook()
    gw = await stack_pg.gateway(**OPEN_LIMITS)
    http = http_factory(gw)
    market = await first_market(http)
    alice, bob = TraderKey(), TraderKey()
    as_alice = bearer(await alice.sign_in(http))
    as_bob = bearer(await bob.sign_in(http))
    ws_alice = await _signed_in(gw, http, alice)
    ws_bob = await _signed_in(gw, http, bob)
    await ws_alice.send(op="subscribe", channels=["orders", f"trades:{market}"])
    await ws_bob.send(op="subscribe", channels=["orders"])
    for ws, channels in ((ws_alice, ["orders", f"trades:{market}"]), (ws_bob, ["orders"])):
        for _ in channels:
            snap = await ws.expect("snapshot")
            assert snap["data"] in ({"orders": []}, {"trades": []})
            await ws.expect("subscribed", channel=snap["channel"], seq=0)

    ask = await http.post(
        "/api/v1/orders", json=order(market, "sell", 5, "60000"), headers=as_alice
    )
    accepted = await ws_alice.expect("update", channel="orders", seq=1)
    assert accepted["data"]["event"] == "order.accepted"
    assert accepted["data"]["order"]["order_id"] == ask.json()["order"]["order_id"]
    await http.post("/api/v1/orders", json=order(market, "buy", 5, "60000"), headers=as_bob)
    # Alice's updates are hers; the trade shows for everyone, without traders.
    events = {}
    for _ in range(2):
        message = await ws_alice.recv()
        events[message["channel"]] = message
    assert events["orders"]["data"]["event"] == "order.filled"
    assert events["orders"]["seq"] == 2
    trade = events[f"trades:{market}"]
    assert trade["seq"] == 1
    assert {k: trade["data"][k] for k in ("price", "quantity", "taker_side")} == {
        "price": "60000.00",
        "quantity": 5,
        "taker_side": "buy",
    }
    assert "maker_trader_id" not in trade["data"]
    bobs = await ws_bob.expect("update", channel="orders", seq=1)
    # A taker's order is accepted as it stands after matching: filled already.
    assert bobs["data"]["event"] == "order.accepted"
    assert (bobs["data"]["order"]["side"], bobs["data"]["order"]["status"]) == ("buy", "filled")
    filled = await ws_bob.expect("update", channel="orders", seq=2)
    assert filled["data"]["event"] == "order.filled"
    assert filled["data"]["order"]["order_id"] == bobs["data"]["order"]["order_id"]
    await ws_bob.send(op="ping")
    await ws_bob.expect("pong")  # nothing of Alice's came before it
    for ws in (ws_alice, ws_bob):
        await ws.close()


async def _subscriber(gw: ServiceRunner, channel: str) -> WsClient:
    ws = await WsClient.open(gw)
    await ws.send(op="subscribe", channels=[channel])
    await ws.expect("snapshot", channel=channel, within=60)
    await ws.expect("subscribed", channel=channel, within=60)
    return ws


async def test_a_thousand_subscribers_all_get_a_book_update(stack_pg: Stack, http_factory) -> None:
    await stack_pg.orderbook()
    gw = await stack_pg.gateway(**OPEN_LIMITS)
    http = http_factory(gw)
    market = await first_market(http)
    channel = f"book:{market}"
    auth = bearer(await TraderKey().sign_in(http))
    clients: list[WsClient] = []
    try:
        for _ in range(10):  # in waves: the test shares its event loop with the server
            clients += await asyncio.gather(*(_subscriber(gw, channel) for _ in range(100)))
        hub = _state(gw).hub
        await wait_until(lambda: hub.subscribers(f"book:{market}") == 1000, 30, what="all in")
        await _bids(http, auth, market, range(5_000_000, 5_000_050, 50))
        got = await asyncio.gather(
            *(ws.expect("update", channel=channel, within=60) for ws in clients)
        )
        assert {(m["seq"], m["data"]["price"]) for m in got} == {(got[0]["seq"], "50000.00")}
    finally:
        await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
