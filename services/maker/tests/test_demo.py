"""The maker in ``tentenone demo``: the book is two-sided seconds after the demo is up.

The embedded default (in-process bus, SQLite files) with the real oracle
(its simulated feed), the real order book and the maker, as ``tentenone
demo`` runs them.
"""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest

from tentenone.bus import Bus
from tentenone.market.schedule import DEMO_SPEC
from tentenone.service.demo import DemoEnvironment, ServiceComponent, run_demo
from tentenone.testing import wait_until
from tentenone.wire import orderbook as wire
from tentenone_maker.service import service as maker
from tentenone_oracle.service import service as oracle
from tentenone_orderbook.service import service as orderbook


async def test_the_demo_book_is_two_sided_within_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENTENONE_EXPIRY_SCHEDULE", DEMO_SPEC)
    monkeypatch.delenv("TENTENONE_AMQP_URL", raising=False)
    monkeypatch.delenv("TENTENONE_DATABASE_URL", raising=False)
    env = DemoEnvironment(data_dir=tmp_path)
    stop = asyncio.Event()
    out = io.StringIO()
    factories = [
        lambda e, s=s: ServiceComponent(s, e)  # type: ignore[misc]
        for s in (oracle, orderbook, maker)
    ]
    demo = asyncio.create_task(run_demo(env, factories, stop, out))
    bus = Bus.for_url("tt-demo-client", None, broker=env.broker)
    try:
        await wait_until(lambda: "Ctrl-C stops everything" in out.getvalue(), 60, what="demo up")
        up = time.monotonic()
        await bus.start()

        async def two_sided() -> list[wire.BookSnapshot]:
            listed = await bus.request(wire.LIST_MARKETS, wire.ListMarketsRequest(), timeout_s=5)
            books = [
                await bus.request(wire.GET_BOOK, wire.BookRequest(market=m.market), timeout_s=5)
                for m in listed.markets
                if m.status == "open"
            ]
            return books if books and all(b.bids and b.asks for b in books) else []

        books = await wait_until(two_sided, 20, interval=0.1, what="a two-sided book")
        # How long after the demo said it was up (printed with -s; no timing assertion).
        print(f"two-sided {time.monotonic() - up:.2f} s after the demo was up")
        for book in books:
            assert len(book.bids) == len(book.asks) == maker.settings_cls().levels
            assert book.bids[0].price < book.asks[0].price
    finally:
        await bus.close()
        stop.set()
        assert await asyncio.wait_for(demo, 30) == 0
