"""The chain monitor's migrations: up, identical to the models, down, up again; both backends."""

from __future__ import annotations

from tentenone.store import migrations_dir
from tentenone.testing.migrations import check_migrations
from tentenone_chain_monitor.models import ChainMonitorTable


async def test_migrations(db_url: str) -> None:
    await check_migrations(
        db_url,
        service="chain-monitor",
        metadata=ChainMonitorTable.metadata,
        migrations=migrations_dir("tentenone_chain_monitor"),
    )
