import asyncio
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel, select

from tentenone.config import BaseServiceSettings
from tentenone.errors import ConfigError
from tentenone.store import (
    Backend,
    Database,
    DatabaseUnavailable,
    InvalidDatabaseUrl,
    create_engine,
    default_sqlite_url,
    service_registry,
)
from tentenone.store import engine as engine_module
from tentenone.testing import free_port


class ShopTable(SQLModel, registry=service_registry()):
    pass


class Item(ShopTable, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    price_sat: int


async def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(sqlite_url: str) -> None:
    db = Database(sqlite_url, service="shop")
    try:
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 10_000
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 2  # FULL
    finally:
        await db.close()


async def test_service_placeholder_gives_each_service_its_own_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/{{service}}.db"
    dbs = [Database(url, service=name, metadata=ShopTable.metadata) for name in ("a", "b")]
    try:
        for d in dbs:
            await d.create_all()
        assert (tmp_path / "a.db").is_file() and (tmp_path / "b.db").is_file()
    finally:
        for d in dbs:
            await d.close()
    assert default_sqlite_url("orderbook") == "sqlite+aiosqlite:///.data/orderbook.db"


async def test_postgres_tables_live_in_the_service_schema(pg_url: str) -> None:
    """Two services in one database: same table names, separate schemas, no crosstalk."""
    shop = Database(pg_url, service="shop", metadata=ShopTable.metadata)
    other = Database(pg_url, service="other-shop", metadata=ShopTable.metadata)
    try:
        assert other.schema == "other_shop"
        for d in (shop, other):
            await d.create_all()
        async with shop.transaction() as s:
            s.add(Item(name="hat", price_sat=1000))
        async with other.transaction() as s:
            assert (await s.exec(select(Item))).all() == []
        async with shop.transaction() as s:
            assert [i.name for i in (await s.exec(select(Item))).all()] == ["hat"]

        def _tables(conn: Connection) -> dict[str, set[str]]:
            insp = inspect(conn)
            return {n: set(insp.get_table_names(schema=n)) for n in ("public", "shop")}

        async with shop.engine.connect() as conn:
            tables = await conn.run_sync(_tables)
        assert tables["public"] == set()
        assert tables["shop"] == {"item", "outbox", "inbox", "state_transitions"}
    finally:
        await shop.close()
        await other.close()


async def test_an_idle_connection_the_server_dropped_is_replaced_unseen(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle pooled connections are pinged before use; a dead one is swapped silently."""
    monkeypatch.setattr(engine_module, "IDLE_PING_S", 0.2)
    shop = Database(pg_url, service="shop", metadata=ShopTable.metadata, pool_size=1)
    admin = Database(pg_url, service="shop-admin", pool_size=1)
    try:
        async with shop.transaction() as s:
            pid = (await s.execute(text("select pg_backend_pid()"))).scalar_one()
        async with admin.transaction() as s:
            await s.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
        await asyncio.sleep(0.3)  # past the idle threshold: the next checkout pings
        async with shop.transaction() as s:
            assert (await s.execute(text("select pg_backend_pid()"))).scalar_one() != pid
    finally:
        await shop.close()
        await admin.close()


async def test_transaction_commits_or_rolls_back(db_url: str) -> None:
    db = Database(db_url, service="shop", metadata=ShopTable.metadata)
    try:
        await db.create_all()
        async with db.transaction() as s:
            s.add(Item(name="hat", price_sat=1000))
        with pytest.raises(RuntimeError):
            async with db.transaction() as s:
                s.add(Item(name="coat", price_sat=5000))
                await s.flush()
                raise RuntimeError
        async with db.transaction() as s:
            items = (await s.exec(select(Item))).all()
        assert [(i.name, i.price_sat) for i in items] == [("hat", 1000)]
        # expire_on_commit=False: the loaded object stays usable after the commit.
        assert items[0].name == "hat"
        await db.ping()
    finally:
        await db.close()


async def test_a_transaction_inside_another_joins_it_under_a_savepoint(db_url: str) -> None:
    db = Database(db_url, service="shop", metadata=ShopTable.metadata)
    try:
        await db.create_all()
        async with db.transaction() as outer:
            outer.add(Item(name="hat", price_sat=1000))
            async with db.transaction() as inner:
                # one connection: on SQLite a second would wait for this one's lock
                assert inner is outer
                inner.add(Item(name="scarf", price_sat=300))
            with pytest.raises(RuntimeError):
                async with db.transaction() as failing:
                    failing.add(Item(name="coat", price_sat=5000))
                    await failing.flush()
                    raise RuntimeError  # rolls back to its savepoint only
        async with db.transaction() as s:
            names = sorted(i.name for i in (await s.exec(select(Item))).all())
        assert names == ["hat", "scarf"]
    finally:
        await db.close()


async def test_a_child_task_opens_a_transaction_of_its_own(pg_url: str) -> None:
    db = Database(pg_url, service="shop", metadata=ShopTable.metadata)
    try:
        await db.create_all()

        async def child() -> int:
            async with db.transaction() as s:
                return int((await s.execute(text("select pg_backend_pid()"))).scalar_one())

        async with db.transaction() as outer:
            mine = (await outer.execute(text("select pg_backend_pid()"))).scalar_one()
            assert await asyncio.create_task(child()) != mine
    finally:
        await db.close()


async def test_ping_fails_fast_with_a_typed_error_when_unreachable() -> None:
    db = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x", service="shop")
    try:
        with pytest.raises(DatabaseUnavailable, match="unreachable"):
            await db.ping(timeout=5)
    finally:
        await db.close()


def test_from_settings_uses_the_service_name_and_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    class ShopSettings(BaseServiceSettings):
        service_name: ClassVar[str] = "shop"

    monkeypatch.setenv("TENTENONE_SHOP_DATABASE_URL", "postgresql+asyncpg://u:secret@h/db")
    db = Database.from_settings(ShopSettings())
    assert (db.service, db.schema, db.backend) == ("shop", "shop", Backend.POSTGRESQL)
    assert "secret" not in db.url and "secret" not in repr(db)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql+aiomysql://u@h/db", "unsupported database URL"),
        ("postgresql://u@h/db", "unsupported database URL"),
        ("sqlite:///x.db", "unsupported database URL"),
        ("not a url", "cannot parse"),
        (42, "must be a string"),
    ],
)
def test_bad_urls_are_refused(url: object, message: str) -> None:
    with pytest.raises(InvalidDatabaseUrl, match=message):
        Database(url, service="shop")  # type: ignore[arg-type]


@pytest.mark.parametrize("schema", ["Shop", "1shop", "shop;drop", "a" * 64, ""])
def test_bad_schema_names_are_refused(schema: str) -> None:
    with pytest.raises(InvalidDatabaseUrl, match="invalid schema name"):
        Database("postgresql+asyncpg://u@h/db", service="shop", schema=schema or "-")


def test_postgres_engine_needs_a_schema_and_masks_passwords() -> None:
    with pytest.raises(InvalidDatabaseUrl, match="needs the service's schema"):
        create_engine("postgresql+asyncpg://u:pw@h/db")
    with pytest.raises(InvalidDatabaseUrl) as info:
        create_engine("mysql://u:hunter2@h/db")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("service", ["", "  ", None, 3])
def test_a_database_needs_a_service_name(service: object) -> None:
    with pytest.raises(ConfigError, match="service must be a non-empty name"):
        Database("sqlite+aiosqlite://", service=service)  # type: ignore[arg-type]
