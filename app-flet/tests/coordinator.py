"""The coordinator's services the app talks to, in this process on the embedded default.

The gateway, the oracle and the order book run through the platform's ``ServiceRunner`` on
one in-process bus (``MemoryBroker``) with SQLite files in the test's
directory: the same code as ``tentenone demo``. The gateway keeps its
sessions in memory (no Redis URL), as in the demo.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tentenone.bus.memory import MemoryBroker
from tentenone.service import ServiceRunner

__all__ = ["coordinator"]


@asynccontextmanager
async def coordinator(tmp: Path) -> AsyncIterator[str]:
    """Oracle + order book + gateway; yields the gateway's base URL."""
    from tentenone_gateway.service import service as gateway_service
    from tentenone_oracle.service import service as oracle_service
    from tentenone_orderbook.service import service as orderbook_service

    broker = MemoryBroker()
    runners: list[ServiceRunner] = []
    oracle_settings = oracle_service.settings_cls(
        database_url=f"sqlite+aiosqlite:///{tmp}/oracle.db",
        mode="devnet",
        key_file=tmp / "oracle.key",
        price_sources=["simulated"],
        min_sources=1,
        expiry_schedule="every:300s",
        announce_ahead=2,
        tick_s=0.5,
        index_price_interval_s=0.5,
    )
    # the markets the gateway lists are the order book's open ones
    orderbook_settings = orderbook_service.settings_cls(
        database_url=f"sqlite+aiosqlite:///{tmp}/orderbook.db",
        expiry_schedule="every:300s",
    )
    gateway_settings = gateway_service.settings_cls(
        database_url=f"sqlite+aiosqlite:///{tmp}/gateway.db",
        expiry_schedule="every:300s",
        rpc_timeout_s=5.0,
    )
    try:
        for service, settings in (
            (oracle_service, oracle_settings),
            (orderbook_service, orderbook_settings),
            (gateway_service, gateway_settings),
        ):
            runner = ServiceRunner(service, settings, broker=broker)
            await runner.start()
            runners.append(runner)
        url = runners[-1].url
        assert url is not None
        yield url
    finally:
        for runner in reversed(runners):
            await runner.stop()
