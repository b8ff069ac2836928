from __future__ import annotations

from tentenone.store import migrations_dir
from tentenone.testing.migrations import check_migrations
from tentenone_orderbook.models import OrderbookTable


async def test_migrations_up_down_up_match_the_models(db_url: str) -> None:
    await check_migrations(
        db_url,
        service="orderbook",
        metadata=OrderbookTable.metadata,
        migrations=migrations_dir("tentenone_orderbook"),
    )
