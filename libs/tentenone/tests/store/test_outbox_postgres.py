"""PostgreSQL-only outbox behaviour: the single active relay per schema."""

from collections.abc import AsyncIterator

import pytest

from tentenone.store import Database, add_event, fetch_unpublished, mark_published, service_registry


@pytest.fixture
async def pg_db(pg_url: str) -> AsyncIterator[Database]:
    database = Database(pg_url, service="svc", metadata=service_registry().metadata)
    await database.create_all()
    try:
        yield database
    finally:
        await database.close()


async def test_second_relay_gets_nothing_while_the_first_holds_the_outbox(pg_db: Database) -> None:
    async with pg_db.transaction() as s:
        ids = [(await add_event(s, event_type="a.b", payload={"i": i})).id for i in range(3)]
    async with pg_db.transaction() as relay1:
        batch = await fetch_unpublished(relay1, 10)
        assert [e.id for e in batch] == ids
        async with pg_db.transaction(new=True) as relay2:
            assert await fetch_unpublished(relay2, 10) == []
        await mark_published(relay1, ids)
    async with pg_db.transaction() as relay2:
        assert await fetch_unpublished(relay2, 10) == []


async def test_relay_lock_is_per_schema(pg_url: str) -> None:
    a = Database(pg_url, service="alpha", metadata=service_registry().metadata)
    b = Database(pg_url, service="beta", metadata=service_registry().metadata)
    try:
        for d in (a, b):
            await d.create_all()
            async with d.transaction() as s:
                await add_event(s, event_type="a.b", payload={"svc": d.service})
        async with a.transaction() as sa, b.transaction() as sb:
            got_a = await fetch_unpublished(sa, 10)
            got_b = await fetch_unpublished(sb, 10)
        assert [e.decoded_payload() for e in got_a] == [{"svc": "alpha"}]
        assert [e.decoded_payload() for e in got_b] == [{"svc": "beta"}]
        assert got_a[0].source == "alpha" and got_b[0].source == "beta"
    finally:
        await a.close()
        await b.close()
