"""The market maker: the quoting policy alone, and how fast the book follows the index.

(a) ``desired_quotes`` + ``plan`` for one market (3 levels a side, a resting
ladder to reconcile against): what one market costs the maker per cycle.

(b) Requote latency on the real stack: the order book and the maker
services in this process, on a fresh PostgreSQL database and RabbitMQ
vhost; the bench publishes ``oracle.index_price`` (playing the oracle) and
times how long until the book holds the whole new ladder, for a series of
index moves past the re-quote threshold. Also: from the first price to a
two-sided book, and from a stale index to an empty book.

    python -m bench maker            # full run, updates bench/RESULTS.md
    python -m bench.maker --quick    # short run, prints only
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from bench._report import machine, write_section
from tentenone.bus import Bus
from tentenone.service import ServiceRunner
from tentenone.testing import postgres
from tentenone.testing.amqp import VhostPool, vhost_url
from tentenone.wire import orderbook as wire
from tentenone.wire.oracle import IndexPriceUpdated
from tentenone_maker.quoting import (
    MarketRules,
    QuotePolicy,
    RestingQuote,
    desired_quotes,
    plan,
)

_INDEX = 9_000_000
_LEVELS = 3


def _policy_us(n: int) -> float:
    """Microseconds per desired_quotes + plan of one market (a shifted ladder resting)."""
    policy, rules = QuotePolicy(levels=_LEVELS), MarketRules()
    resting = [
        RestingQuote(i, q.side, q.price, 0, q.quantity)
        for i, q in enumerate(desired_quotes(_INDEX - 5_000, 300, policy, rules))
    ]
    started = time.perf_counter()
    for i in range(n):
        plan(desired_quotes(_INDEX + (i & 63) * 50, i & 1023, policy, rules), resting)
    return (time.perf_counter() - started) / n * 1e6


async def _publish(bus: Bus, cents: int, at: datetime | None = None) -> None:
    at = at or datetime.now(UTC)
    await bus.publish(
        IndexPriceUpdated(oracle="oracle", price_cents=cents, at=at, quotes=[]), occurred_at=at
    )


async def _wait_book(bus: Bus, market: str, want: Any, timeout_s: float = 30) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        book = await bus.request(wire.GET_BOOK, wire.BookRequest(market=market), timeout_s=10)
        if want(book):
            return time.perf_counter() - started
        await asyncio.sleep(0.002)
    raise TimeoutError("the book never showed what was waited for")


async def _stack_run(moves: int) -> dict[str, Any]:
    from tentenone_maker.service import service as maker
    from tentenone_orderbook.service import service as orderbook

    pool = VhostPool()
    vhost = pool.acquire()
    db_name = postgres.create_database()
    url, pg_url = vhost_url(vhost), postgres.async_url(db_name)
    runners: list[ServiceRunner] = []
    bus = Bus.for_url("bench-maker", url)
    try:
        ob_settings = orderbook.settings_cls(
            database_url=pg_url,
            amqp_url=url,
            house_traders=["house"],
            snapshot_interval_s=3600.0,
            markets_ahead=1,
        )
        runners.append(ServiceRunner(orderbook, ob_settings, serve_http=False))
        await runners[-1].start()
        mk_settings = maker.settings_cls(
            database_url=pg_url,
            amqp_url=url,
            levels=_LEVELS,
            size=100,
            stale_after_s=2.0,
            interval_s=1.0,
        )
        runners.append(ServiceRunner(maker, mk_settings, serve_http=False))
        await runners[-1].start()
        await bus.start()
        listed = await bus.request(wire.LIST_MARKETS, wire.ListMarketsRequest(), timeout_s=10)
        market = listed.markets[0].market

        def ladder_at(around: int) -> Any:
            def ok(book: wire.BookSnapshot) -> bool:
                return (
                    len(book.bids) == len(book.asks) == _LEVELS
                    and book.bids[0].price < around < book.asks[0].price
                    and book.bids[-1].price > around * 0.99
                    and book.asks[-1].price < around * 1.01
                )

            return ok

        await _publish(bus, _INDEX)
        first = await _wait_book(bus, market, ladder_at(_INDEX))
        requotes: list[float] = []
        price = _INDEX
        for i in range(moves):
            price += 20_000 if i % 2 == 0 else -11_000  # 22 then 12 bps: past the 5 bps threshold
            await _publish(bus, price)
            requotes.append(await _wait_book(bus, market, ladder_at(price)))
        # A stale index: the last price is 1 s old and stale after 2 s.
        await _publish(bus, price + 20_000, at=datetime.now(UTC) - dt.timedelta(seconds=1))
        stale = await _wait_book(bus, market, lambda b: not b.bids and not b.asks)
        return {"first": first, "requotes": requotes, "stale": stale}
    finally:
        await bus.close()
        for runner in reversed(runners):
            await runner.stop(grace_s=5)
        pool.release(vhost)
        pool.close()
        postgres.drop_database(db_name)


def _section(us: float, r: dict[str, Any], moves: int, stamp: str) -> str:
    req = sorted(r["requotes"])
    p90 = req[int(0.9 * (len(req) - 1))]
    moved = (
        f"median {statistics.median(req) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, "
        f"max {req[-1] * 1000:.0f} ms"
    )
    return f"""## maker: quoting policy and requote latency

{stamp} on {machine()}; `python -m bench maker`

| what | figure |
|---|---|
| `desired_quotes` + `plan`, one market, {_LEVELS} levels a side | {us:.1f} us |
| first price to a two-sided book (maker already running) | {r["first"] * 1000:.0f} ms |
| index move to the whole new ladder in the book ({moves} moves) | {moved} |
| last price 1 s old, stale after 2 s: to an empty book | {r["stale"] * 1000:.0f} ms |

The order book and the maker run in this process on RabbitMQ and
PostgreSQL; the bench publishes the index and polls `get_book`; the machine
is shared (see the load average). A re-quote is one cycle: list markets,
list the maker's orders, read its inventory, then the {2 * _LEVELS} cancels and
{2 * _LEVELS} places in one round (each order book command answered after its
batch's commit). The moves alternate 22 bps (wider than the 20 bps spread:
the new bids would meet the old asks, so they wait for the cancels, two
rounds) and 12 bps (one round). A stale index is seen at the next cycle
(at most `interval_s`, 1 s, after it turned stale). The policy itself is a
negligible part of it.
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.maker")
    parser.add_argument("--quick", action="store_true", help="short run, print only")
    args = parser.parse_args(argv)
    moves = 5 if args.quick else 30
    us = _policy_us(2_000 if args.quick else 50_000)
    result = asyncio.run(_stack_run(moves))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    section = _section(us, result, moves, stamp)
    print(section)
    if not args.quick:
        write_section("maker", section)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
