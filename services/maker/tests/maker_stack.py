"""The maker's test stack: the order book service and the maker on a test's vhost.

``Stack`` (the ``stack`` fixture) runs the real order book service
in-process (the test's RabbitMQ vhost and PostgreSQL database) and holds a
bus client that plays the oracle's price feed (``publish_price``) and reads
the book. The oracle itself is not run here: its feed is the input these
tests control. The maker runs in-process (``start_maker``) or as a process
(with ``maker_settings`` as its environment).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tentenone.bus import Bus
from tentenone.bus.errors import BusUnavailable
from tentenone.service import ServiceRunner
from tentenone.wire import orderbook as wire
from tentenone.wire.oracle import IndexPriceUpdated

HOUSE = "house"


async def started(make: Any) -> Any:
    for attempt in range(3):  # the shared broker can be slow to accept under load
        thing = make()
        try:
            await thing.start()
        except BusUnavailable:
            if attempt == 2:
                raise
            continue
        return thing
    raise AssertionError("unreachable")


@dataclass
class Stack:
    bus: Bus
    pg_url: str
    amqp_url: str
    runners: list[ServiceRunner] = field(default_factory=list)

    async def publish_price(self, cents: int, at: dt.datetime | None = None) -> None:
        at = at or dt.datetime.now(dt.UTC)
        await self.bus.publish(
            IndexPriceUpdated(oracle="oracle", price_cents=cents, at=at, quotes=[]),
            occurred_at=at,
        )

    async def market(self) -> str:
        listed = await self.bus.request(wire.LIST_MARKETS, wire.ListMarketsRequest(), timeout_s=15)
        return listed.markets[0].market

    async def book(self, market: str) -> wire.BookSnapshot:
        return await self.bus.request(
            wire.GET_BOOK, wire.BookRequest(market=market, depth=50), timeout_s=15
        )

    async def house_orders(self) -> list[wire.OrderPublic]:
        listed = await self.bus.request(
            wire.LIST_ORDERS,
            wire.ListOrdersRequest(trader_id=HOUSE, open_only=True, limit=500),
            timeout_s=15,
        )
        return listed.orders

    def maker_settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "database_url": self.pg_url,
            "amqp_url": self.amqp_url,
            "trader_id": HOUSE,
            "levels": 3,
            "size": 100,
            "interval_s": 0.2,
            "stale_after_s": 30.0,
            **overrides,
        }

    async def start_maker(self, **overrides: Any) -> ServiceRunner:
        from tentenone_maker.service import service

        settings = service.settings_cls(**self.maker_settings(**overrides))
        runner = await started(lambda: ServiceRunner(service, settings, serve_http=False))
        self.runners.append(runner)
        return runner

    async def start_orderbook(self, **overrides: Any) -> ServiceRunner:
        from tentenone_orderbook.service import service

        settings = service.settings_cls(
            database_url=self.pg_url,
            amqp_url=self.amqp_url,
            house_traders=[HOUSE],
            snapshot_interval_s=3600.0,
            markets_ahead=1,
            **overrides,
        )
        runner = await started(lambda: ServiceRunner(service, settings, serve_http=False))
        self.runners.append(runner)
        return runner
