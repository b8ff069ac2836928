"""Order book tests: helpers beside the tests, a running service and a bus client.

``start(**settings)``: the order book service in-process on the real stack
(the test's RabbitMQ vhost and PostgreSQL database), stopped at the end.
``client``: a bus client on the same vhost that calls the order book and
collects every event it publishes, with its event id.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

# pytest runs with --import-mode=importlib, which leaves sys.path alone; the
# helper modules here have names unique to this service.
sys.path.insert(0, str(Path(__file__).parent))

from tentenone.bus import Bus
from tentenone.bus.errors import BusUnavailable
from tentenone.bus.events import ReceivedEvent
from tentenone.service import ServiceRunner
from tentenone.store import Database
from tentenone.wire import orderbook as wire
from tentenone_orderbook.models import OrderbookTable

Start = Callable[..., Awaitable[ServiceRunner]]

EVENT_TYPES: tuple[type[Any], ...] = (
    wire.OrderAccepted,
    wire.OrderAmended,
    wire.OrderPartiallyFilled,
    wire.OrderFilled,
    wire.OrderCancelled,
    wire.OrderRejected,
    wire.TradeMatched,
    wire.FillReleased,
    wire.BookDeltaEvent,
    wire.BookSnapshotEvent,
)


@dataclass
class Seen:
    """Every order book event received: (event id, event), in arrival order."""

    events: list[tuple[str, Any]] = field(default_factory=list)

    async def on_event(self, event: ReceivedEvent[Any]) -> None:
        self.events.append((event.event_id, event.payload))

    def of(self, cls: type[Any]) -> list[Any]:
        return [e for _, e in self.events if isinstance(e, cls)]


async def _start_bus(bus: Bus) -> None:
    for attempt in range(3):  # the shared broker can be slow to accept under load
        try:
            await bus.start()
            return
        except BusUnavailable:
            if attempt == 2:
                raise


@pytest.fixture
async def client(amqp_url: str) -> AsyncIterator[tuple[Bus, Seen]]:
    bus = Bus.for_url("tt-orderbook-client", amqp_url)
    await _start_bus(bus)
    seen = Seen()
    for cls in EVENT_TYPES:
        name = "seen_" + cls.event_type.replace(".", "_")
        await bus.subscribe(cls, seen.on_event, name=name)
    yield bus, seen
    await bus.close()


def orderbook_settings(pg_url: str, amqp_url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "database_url": pg_url,
        "amqp_url": amqp_url,
        "house_traders": ["house"],
        "snapshot_interval_s": 3600.0,
        **overrides,
    }


@pytest.fixture
async def start(amqp_url: str, pg_url: str) -> AsyncIterator[Start]:
    from tentenone_orderbook.service import service

    runners: list[ServiceRunner] = []

    async def go(**overrides: Any) -> ServiceRunner:
        settings = service.settings_cls(**orderbook_settings(pg_url, amqp_url, **overrides))
        for attempt in range(3):
            runner = ServiceRunner(service, settings, serve_http=False)
            try:
                await runner.start()
            except BusUnavailable:
                if attempt == 2:
                    raise
                continue
            runners.append(runner)
            return runner
        raise AssertionError("unreachable")

    yield go
    for runner in reversed(runners):
        await runner.stop(grace_s=3)


#: the tables holding the order book's state (the outbox apart)
STATE_TABLES = ("orders", "fills", "accounts", "markets", "writer", "state_transitions")


def runner_db(runner: ServiceRunner) -> Database:
    assert runner.db is not None
    return runner.db


async def state_rows(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of the state tables (sorted), and the outbox's ids and event types in order."""
    tables = OrderbookTable.metadata.tables
    out: dict[str, list[dict[str, Any]]] = {}
    async with db.transaction() as session:
        conn = await session.connection()
        for name in STATE_TABLES:
            rows = await conn.execute(select(tables[name]))
            out[name] = sorted((dict(r._mapping) for r in rows), key=repr)
        outbox = tables["outbox"]
        rows = await conn.execute(select(outbox.c.id, outbox.c.event_type).order_by(outbox.c.seq))
        out["outbox"] = [dict(r._mapping) for r in rows]
    return out
