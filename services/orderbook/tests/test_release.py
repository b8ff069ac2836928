"""``dlc.released`` undoes a fill's side in the accounts, once, on the real bus and database."""

from __future__ import annotations

from typing import Any

from conftest import Seen, Start, runner_db
from sqlalchemy import select

from tentenone.bus import Bus
from tentenone.store import Database
from tentenone.testing import wait_until
from tentenone.wire import orderbook as wire
from tentenone.wire.dlc_lifecycle import DlcReleased
from tentenone_orderbook.models import OrderbookTable

P = 6_000_000
HOUSE = "house"
TRADER_A = "a" * 64
TRADER_B = "b" * 64
MARGIN = 10**12


def _place(market: str, trader: str, side: str, qty: int) -> wire.PlaceOrderRequest:
    return wire.PlaceOrderRequest(
        market=market,
        trader_id=trader,
        side=side,  # type: ignore[arg-type]
        quantity=qty,
        leverage=2,
        price=P,
        available_margin_sat=MARGIN,
    )


def _released(trade_id: str, trader: str) -> DlcReleased:
    return DlcReleased(
        position_id="p-" + trade_id,
        trader_pubkey=trader,
        trade_id=trade_id,
        state="RELEASED",
        reason="dlc_sign_timeout",
    )


async def _rows(db: Database, table: str) -> list[dict[str, Any]]:
    t = OrderbookTable.metadata.tables[table]
    async with db.transaction() as session:
        conn = await session.connection()
        return [dict(r._mapping) for r in await conn.execute(select(t))]


async def _accounts(db: Database) -> dict[str, tuple[int, int, int]]:
    return {
        r["trader_id"]: (r["position"], r["committed_sat"], r["fees_sat"])
        for r in await _rows(db, "accounts")
    }


async def test_a_released_fill_stops_counting_once(start: Start, client: tuple[Bus, Seen]) -> None:
    bus, seen = client
    db = runner_db(await start())
    markets = await bus.request(wire.LIST_MARKETS, wire.ListMarketsRequest(), timeout_s=15)
    market = markets.markets[0].market
    # trade 1: the house rests, B takes; trade 2: A rests, B takes.
    for trader, side in ((HOUSE, "sell"), (TRADER_B, "buy"), (TRADER_A, "sell"), (TRADER_B, "buy")):
        await bus.request(wire.PLACE_ORDER, _place(market, trader, side, 100), timeout_s=15)
    before = await _accounts(db)
    assert before[TRADER_B][0] == 200 and before[HOUSE][0] == -100 and before[TRADER_A][0] == -100

    # B's side of trade 1, delivered twice under two event ids (the DLC service's
    # outbox may publish again after a crash), and once more under the same id.
    first = _released(f"{market}:1", TRADER_B)
    event_id = await bus.publish(first)
    await bus.publish(first)
    await bus.publish(first, event_id=event_id)
    # A's side of trade 2: B's side of it stays (B's own DLC may still be signed).
    await bus.publish(_released(f"{market}:2", TRADER_A))
    # A release naming a trader who is not a side of the fill changes nothing.
    await bus.publish(_released(f"{market}:2", "c" * 64))

    await wait_until(lambda: _inbox_at_least(db, 4), 20, what="4 distinct deliveries handled")
    after = await _accounts(db)
    # B's second order declared its margin again, so committed counted trade 2 only;
    # releasing trade 1 frees its margin against that (never below zero).
    b_margin, b_fees = before[TRADER_B][1], before[TRADER_B][2]
    assert b_margin > 0 and after[TRADER_B] == (100, 0, b_fees // 2)
    assert after[HOUSE] == (0, 0, 0)
    assert after[TRADER_A] == (0, 0, 0)
    releases = await _rows(db, "fill_releases")
    assert sorted((r["fill_id"], r["trader_id"], r["reason"]) for r in releases) == [
        (f"{market}:1", TRADER_B, "dlc_sign_timeout"),
        (f"{market}:2", TRADER_A, "dlc_sign_timeout"),
    ]
    await wait_until(lambda: len(seen.of(wire.FillReleased)) >= 2, 15, what="fill.released")
    got = sorted(seen.of(wire.FillReleased), key=lambda e: e.trade_id)
    assert [(e.trader_id, e.side, e.quantity, e.order_id) for e in got] == [
        (TRADER_B, "long", 100, f"{market}:2"),
        (TRADER_A, "short", 100, f"{market}:3"),
    ]
    outbox = OrderbookTable.metadata.tables["outbox"]
    async with db.transaction() as session:
        conn = await session.connection()
        kinds = [r.event_type for r in await conn.execute(select(outbox.c.event_type))]
    assert kinds.count("fill.released") == 2


async def _inbox_at_least(db: Database, n: int) -> bool:
    return len(await _rows(db, "inbox")) >= n
