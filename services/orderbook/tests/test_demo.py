"""The order book as ``tentenone demo`` runs it: markets on the demo's expiries, ready, trading.

The demo component on the embedded default (in-process bus, a SQLite file),
with no ``TENTENONE_*`` variable from the outside.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tentenone.bus import Bus
from tentenone.market.schedule import DEMO_SPEC, ExpirySchedule
from tentenone.service.demo import DemoEnvironment, ServiceComponent
from tentenone.store import utcnow
from tentenone.testing import wait_until
from tentenone.wire import orderbook as wire
from tentenone_orderbook.service import service

P = 6_000_000


@pytest.fixture
async def demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[ServiceComponent, Bus]]:
    for key in [k for k in os.environ if k.startswith("TENTENONE_")]:
        monkeypatch.delenv(key)
    env = DemoEnvironment(data_dir=tmp_path / ".demo")
    component = ServiceComponent(service, env)
    await component.start()
    client = Bus.for_url("tt-demo-client", None, broker=env.broker)
    await client.start()
    yield component, client
    await client.close()
    await component.stop()


async def test_the_demo_order_book_is_ready_on_the_demo_expiries(
    demo: tuple[ServiceComponent, Bus],
) -> None:
    component, bus = demo
    async with httpx.AsyncClient(timeout=10) as http:
        ready = await http.get(component.urls()["ready"])
    assert ready.status_code == 200 and ready.json()["status"] == "ready"

    schedule = ExpirySchedule.parse(DEMO_SPEC)

    async def on_the_demo_expiries() -> list[str] | None:
        listed = await bus.request(wire.LIST_MARKETS, wire.ListMarketsRequest(), timeout_s=10)
        open_ids = [m.market for m in listed.markets if m.status == "open"]
        expected = [schedule.event_id(e) for e in schedule.upcoming(utcnow(), 2)]
        return open_ids if open_ids == expected else None

    # Retried: a demo expiry may pass between the two reads.
    markets = await wait_until(on_the_demo_expiries, 15, what="markets on the demo expiries")
    assert markets is not None and len(markets) == 2

    def order(trader: str, side: str) -> wire.PlaceOrderRequest:
        return wire.PlaceOrderRequest(
            market=markets[-1],
            trader_id=trader,
            side=side,  # type: ignore[arg-type]
            quantity=10,
            leverage=2,
            price=P,
            available_margin_sat=10**9,
        )

    await bus.request(wire.PLACE_ORDER, order("a" * 64, "sell"), timeout_s=10)
    taker = await bus.request(wire.PLACE_ORDER, order("b" * 64, "buy"), timeout_s=10)
    assert taker.order.status == "filled" and len(taker.fills) == 1
