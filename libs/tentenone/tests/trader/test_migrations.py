"""The app database's migrations match the trader's tables, up, down and up again."""

from __future__ import annotations

from tentenone.store import migrations_dir
from tentenone.testing.migrations import check_migrations
from tentenone.trader.models import TraderTable


async def test_migrations(sqlite_url: str) -> None:
    await check_migrations(
        sqlite_url,
        service="trader",
        metadata=TraderTable.metadata,
        migrations=migrations_dir("tentenone.trader"),
    )
