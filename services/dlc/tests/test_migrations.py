"""The DLC service's migrations match its models, up and down, on both backends."""

from __future__ import annotations

from tentenone.store import migrations_dir
from tentenone.testing.migrations import check_migrations
from tentenone_dlc.models import DlcTable


async def test_migrations(db_url: str) -> None:
    await check_migrations(
        db_url,
        service="dlc",
        metadata=DlcTable.metadata,
        migrations=migrations_dir("tentenone_dlc"),
    )
