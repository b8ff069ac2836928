"""kill -9 of the order book in the middle of a burst of 1,000 orders from several clients.

The service runs as a real process (``python -m tentenone_orderbook``) on the
test's PostgreSQL database and RabbitMQ vhost. Five clients, each its own bus
connection, send crossing limit orders (every one with a client order id, so
a retry is safe); once a third of them are acknowledged the process gets
SIGKILL and is started again while the clients keep sending. Calls that got
no reply are retried afterwards with the same client order id. Then:

- every acknowledged order is in the database exactly once, as acknowledged,
  with the fills its reply listed;
- every client order id names one order; an order's filled quantity is the sum
  of its fills, as taker and as maker (no fill lost or doubled);
- every fill has one ``trade.matched`` event (one event id; a redelivery after
  the crash carries the same id, which the consumers' inbox absorbs);
- ``book.delta`` sequence numbers run 1..n without a gap and replaying them
  gives the served book;
- placing the stored orders again, in order id order, in a fresh engine gives
  exactly the stored fills and the served book (the book is a replay of the
  database).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import Seen
from sqlalchemy import Table, select

from tentenone.bus import Bus
from tentenone.errors import TentenoneError, Unavailable
from tentenone.store import Database
from tentenone.testing import PythonProcess, wait_until
from tentenone.wire import orderbook as wire
from tentenone_orderbook.events import Fill
from tentenone_orderbook.matching import MatchingEngine
from tentenone_orderbook.models import FillRow, OrderbookTable, OrderRow
from tentenone_orderbook.orders import OrderStatus, PlaceOrder, Side
from tentenone_orderbook.settings import OrderbookSettings

pytestmark = pytest.mark.slow

Spawn = Callable[..., PythonProcess]

ORDERS = 1_000
CLIENTS = 5
IN_FLIGHT = 8  # concurrent calls per client
KILL_AFTER = ORDERS // 3  # acknowledged orders before the kill
P = 6_000_000
MARGIN = 10**12
CALL_TIMEOUT_S = 5.0  # a call the dead process took times out; it is retried later
_ORDERS: Table = OrderRow.__table__  # type: ignore[attr-defined]
_FILLS: Table = FillRow.__table__  # type: ignore[attr-defined]
_LIVE = (int(OrderStatus.OPEN), int(OrderStatus.PARTIALLY_FILLED))
_READY = r'"msg": "service orderbook ready"'


@pytest.fixture
def orderbook_env(pg_url: str, amqp_url: str) -> dict[str, str]:
    return {
        "TENTENONE_ORDERBOOK_DATABASE_URL": pg_url,
        "TENTENONE_AMQP_URL": amqp_url,
        "TENTENONE_ORDERBOOK_SNAPSHOT_INTERVAL_S": "3600",
        "TENTENONE_HTTP_PORT": "0",
        "TENTENONE_LOG_LEVEL": "INFO",
    }


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    database = Database(pg_url, service="orderbook", metadata=OrderbookTable.metadata)
    yield database
    await database.close()


async def _ready(proc: PythonProcess, starts: int = 3) -> None:
    """Wait for readiness; a start that fails on a slow shared broker is retried (bounded)."""
    for attempt in range(starts):
        try:
            await proc.wait_for_output(_READY, 60)
            return
        except RuntimeError:
            if "could not start" not in proc.output() or attempt == starts - 1:
                raise
            proc.start()


@dataclass
class Burst:
    """What the clients were told: replies by client order id, and the calls left unanswered."""

    market: str
    acked: dict[str, wire.PlaceOrderReply] = field(default_factory=dict)
    unanswered: list[wire.PlaceOrderRequest] = field(default_factory=list)
    acked_event: asyncio.Event = field(default_factory=asyncio.Event)


def _orders(market: str) -> list[wire.PlaceOrderRequest]:
    """Crossing limit orders: buyers and sellers (different traders) a few ticks either side."""
    rng = random.Random(7)
    out = []
    for i in range(ORDERS):
        side = "buy" if rng.random() < 0.5 else "sell"
        step = rng.randint(-3, 3) * 50
        out.append(
            wire.PlaceOrderRequest(
                market=market,
                trader_id=f"{side[0]}{i % 7}",
                side=side,
                quantity=rng.randint(1, 20) * 10,
                leverage=rng.randint(1, 10),
                price=P + step,
                client_order_id=f"burst-{i}",
                available_margin_sat=MARGIN,
            )
        )
    return out


async def _client(bus: Bus, requests: list[wire.PlaceOrderRequest], burst: Burst) -> None:
    queue = iter(requests)

    async def worker() -> None:
        for req in queue:
            try:
                reply = await bus.request(wire.PLACE_ORDER, req, timeout_s=CALL_TIMEOUT_S)
            except TentenoneError:  # timed out or the connection broke: no answer
                burst.unanswered.append(req)
                continue
            assert req.client_order_id is not None
            burst.acked[req.client_order_id] = reply
            if len(burst.acked) >= KILL_AFTER:
                burst.acked_event.set()

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


@pytest.fixture
async def buses(amqp_url: str) -> AsyncIterator[list[Bus]]:
    started = []
    for i in range(CLIENTS):
        bus = Bus.for_url(f"tt-orderbook-burst{i}", amqp_url)
        for attempt in range(3):  # the shared broker can be slow to accept under load
            try:
                await bus.start()
                break
            except TentenoneError:
                if attempt == 2:
                    raise
        started.append(bus)
    yield started
    for bus in started:
        await bus.close()


async def test_kill_9_in_a_burst_loses_and_doubles_nothing(
    spawn: Spawn,
    orderbook_env: dict[str, str],
    db: Database,
    client: tuple[Bus, Seen],
    buses: list[Bus],
) -> None:
    bus, seen = client
    proc = spawn("tentenone_orderbook", env=orderbook_env)
    await _ready(proc)
    markets = await _answered(bus, wire.LIST_MARKETS, wire.ListMarketsRequest())
    burst = Burst(markets.markets[0].market)
    requests = _orders(burst.market)

    clients = [
        asyncio.create_task(_client(b, requests[i::CLIENTS], burst)) for i, b in enumerate(buses)
    ]
    await asyncio.wait_for(burst.acked_event.wait(), 60)
    assert proc.kill() == -9
    killed_at = len(burst.acked)
    proc.start()
    await _ready(proc)
    await asyncio.wait_for(asyncio.gather(*clients), 120)
    assert killed_at < ORDERS, "the kill came after the burst"
    # What got no answer is placed again under the same client order id: safe by design.
    for req in burst.unanswered:
        assert req.client_order_id is not None
        burst.acked[req.client_order_id] = await _answered(bus, wire.PLACE_ORDER, req)
    assert len(burst.acked) == ORDERS

    orders, fills = await _stored(db, burst.market)
    _check_orders(burst, orders, fills)
    book = await _answered(bus, wire.GET_BOOK, wire.BookRequest(market=burst.market, depth=500))
    await _check_events(seen, orders, fills, book)
    _check_replay(burst.market, orders, fills, book)


async def _answered(bus: Bus, spec: Any, req: Any, attempts: int = 4) -> Any:
    """A call retried while the shared broker is slow or the link drops (bounded).

    Safe for every call here: reads, and places under a client order id.
    """
    for attempt in range(attempts):
        try:
            return await bus.request(spec, req, timeout_s=15)
        except Unavailable:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


async def _stored(db: Database, market: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with db.transaction() as session:
        conn = await session.connection()
        orders = await conn.execute(
            select(_ORDERS).where(_ORDERS.c.market_id == market).order_by(_ORDERS.c.order_id)
        )
        fills = await conn.execute(
            select(_FILLS).where(_FILLS.c.market_id == market).order_by(_FILLS.c.trade_id)
        )
        return [dict(r._mapping) for r in orders], [dict(r._mapping) for r in fills]


def _check_orders(burst: Burst, orders: list[dict[str, Any]], fills: list[dict[str, Any]]) -> None:
    by_client = {o["client_order_id"]: o for o in orders}
    assert len(by_client) == len(orders) == ORDERS, "one order per client order id, no other"
    fill_by_id = {f["id"]: f for f in fills}
    for cid, reply in burst.acked.items():
        row = by_client[cid]
        assert row["order_id"] == reply.order.order_id
        assert (row["trader_id"], row["quantity"], row["price"]) == (
            reply.order.trader_id,
            reply.order.quantity,
            reply.order.price,
        )
        assert row["filled"] >= reply.order.filled  # it may have filled more since, as maker
        for got in reply.fills:
            stored = fill_by_id[got.trade_id]
            assert (stored["price"], stored["quantity"]) == (got.price, got.quantity)
            assert stored["taker_order_id"] == reply.order.order_id
    filled: dict[int, int] = {}
    for f in fills:
        for side in ("taker", "maker"):
            oid = f[f"{side}_order_id"]
            filled[oid] = filled.get(oid, 0) + f["quantity"]
    for o in orders:
        assert o["filled"] == filled.get(o["order_id"], 0), f"fills of order {o['order_id']}"
        assert o["filled"] + o["remaining"] == o["quantity"]
    assert [f["trade_id"] for f in fills] == list(range(1, len(fills) + 1))
    assert fills, "the burst crossed"


async def _check_events(
    seen: Seen,
    orders: list[dict[str, Any]],
    fills: list[dict[str, Any]],
    book: wire.BookSnapshot,
) -> None:
    trade_ids = {f["id"] for f in fills}
    await wait_until(
        lambda: {e.trade_id for e in seen.of(wire.TradeMatched)} >= trade_ids,
        60,
        what=f"trade.matched of all {len(trade_ids)} fills",
    )
    await wait_until(
        lambda: len({e.order_id for e in seen.of(wire.OrderAccepted)}) >= len(orders),
        60,
        what="order.accepted of every order",
    )
    await wait_until(lambda: _max_seq(seen) >= book.seq, 60, what=f"book.delta up to {book.seq}")
    ids_of: dict[str, set[str]] = {}
    for event_id, event in seen.events:
        if isinstance(event, wire.TradeMatched):
            ids_of.setdefault(event.trade_id, set()).add(event_id)
    assert set(ids_of) == trade_ids, "a trade.matched for every fill and no other"
    assert all(len(ids) == 1 for ids in ids_of.values()), "one event per trade"
    stored = {f["id"]: f for f in fills}
    for e in seen.of(wire.TradeMatched):
        assert (e.price, e.quantity) == (
            stored[e.trade_id]["price"],
            stored[e.trade_id]["quantity"],
        )
    accepted: dict[int, set[str]] = {}
    for event_id, event in seen.events:
        if isinstance(event, wire.OrderAccepted):
            accepted.setdefault(event.order_id, set()).add(event_id)
    assert sorted(accepted) == [o["order_id"] for o in orders]
    assert all(len(ids) == 1 for ids in accepted.values()), "one order.accepted per order"
    # Book deltas: one per sequence number, 1..seq, and together they make the book.
    deltas: dict[int, tuple[str, wire.BookDeltaEvent]] = {}
    for event_id, event in seen.events:
        if isinstance(event, wire.BookDeltaEvent):
            first = deltas.setdefault(event.seq, (event_id, event))
            assert first == (event_id, event), f"two different deltas numbered {event.seq}"
    assert sorted(deltas) == list(range(1, book.seq + 1))
    levels: dict[tuple[str, int], tuple[int, int]] = {}
    for seq in sorted(deltas):
        d = deltas[seq][1]
        if d.quantity:
            levels[(d.side, d.price)] = (d.quantity, d.orders)
        else:
            levels.pop((d.side, d.price), None)
    assert _levels(book) == levels


def _max_seq(seen: Seen) -> int:
    return max((e.seq for e in seen.of(wire.BookDeltaEvent)), default=0)


def _levels(book: wire.BookSnapshot) -> dict[tuple[str, int], tuple[int, int]]:
    out = {("buy", lv.price): (lv.quantity, lv.orders) for lv in book.bids}
    out.update({("sell", lv.price): (lv.quantity, lv.orders) for lv in book.asks})
    return out


def _check_replay(
    market: str,
    orders: list[dict[str, Any]],
    fills: list[dict[str, Any]],
    book: wire.BookSnapshot,
) -> None:
    """Place the stored orders again in a fresh engine: the same fills, the same book."""
    engine = MatchingEngine(OrderbookSettings().market_config(market))
    replayed: list[Fill] = []
    for o in orders:
        result = engine.place(
            PlaceOrder(
                o["trader_id"],
                Side(o["side"]),
                o["quantity"],
                o["leverage"],
                price=o["price"],
                client_order_id=o["client_order_id"],
                available_margin_sat=MARGIN,
            )
        )
        assert result.order.order_id == o["order_id"]
        replayed.extend(result.fills)
    keys = ("trade_id", "price", "quantity", "taker_order_id", "maker_order_id")
    assert [tuple(getattr(f, k) for k in keys) for f in replayed] == [
        tuple(f[k] for k in keys) for f in fills
    ]
    depth = engine.depth(500)
    assert _levels(book) == {
        **{("buy", lv.price): (lv.quantity, lv.orders) for lv in depth.bids},
        **{("sell", lv.price): (lv.quantity, lv.orders) for lv in depth.asks},
    }
    assert engine.seq == book.seq
    live = {v.order_id: (v.filled, v.remaining, v.priority) for v in engine.snapshot().orders}
    assert live == {
        o["order_id"]: (o["filled"], o["remaining"], o["priority"])
        for o in orders
        if o["state"] in _LIVE
    }
