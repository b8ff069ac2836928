"""Prove a service's migrations: up, down, up again, and no drift from the models."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection

from tentenone.store.database import Database
from tentenone.store.migrations import VERSION_TABLE, compare, downgrade

__all__ = ["check_migrations"]


async def check_migrations(
    url: str,
    *,
    service: str,
    metadata: MetaData,
    migrations: Path,
    schema: str | None = None,
) -> None:
    """Upgrade head, downgrade base, upgrade head on ``url``; the models must match each time.

    Raises ``AssertionError`` describing the first thing that is wrong.
    """
    db = Database(url, service=service, metadata=metadata, migrations=migrations, schema=schema)
    try:
        await _upgrade_and_compare(db)
        await downgrade(db, "base")
        left = await _tables(db) - {VERSION_TABLE}
        assert not left, f"{service}: tables left after downgrade to base: {sorted(left)}"
        status = await db.migration_status()
        assert status.current == (), f"{service}: still at {status.current} after downgrade"
        await _upgrade_and_compare(db)
    finally:
        await db.close()


async def _upgrade_and_compare(db: Database) -> None:
    await db.migrate()
    status = await db.migration_status()
    assert status.at_head, f"{db.service}: at {status.current}, heads are {status.heads}"
    diff = await compare(db)
    assert not diff, f"{db.service}: models and migrations differ: {diff}"
    missing = set(db.metadata.tables if db.metadata is not None else ()) - await _tables(db)
    assert not missing, f"{db.service}: tables of the models missing in the database: {missing}"


async def _tables(db: Database) -> set[str]:
    def _names(conn: Connection) -> set[str]:
        return set(inspect(conn).get_table_names(schema=db.schema))

    async with db.engine.connect() as conn:
        return await conn.run_sync(_names)
