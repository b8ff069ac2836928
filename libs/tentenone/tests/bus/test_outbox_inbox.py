"""Outbox relay and idempotent consumer, on SQLite and PostgreSQL, in-process bus and RabbitMQ."""

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.bus import ConsumerPolicy, ReceivedEvent
from tentenone.bus.idempotent import idempotent
from tentenone.bus.relay import OutboxRelay, enqueue
from tentenone.errors import InvalidInput
from tentenone.logging import bind_correlation_id
from tentenone.store import Database, fetch_unpublished, service_registry
from tentenone.testing import wait_until
from tentenone.wire import Event, UnknownEventType

from .conftest import MakeBus


class OrderPlaced(Event):
    event_type = "relaytest.order_placed"
    source = "relaytest-src"
    order: int


MakeDb = Callable[[str], "asyncio.Future[Database]"]


@pytest.fixture
async def make_db(db_url: str) -> AsyncIterator[Callable[..., object]]:
    made: list[Database] = []

    # One SQLite file per service, as in the embedded default; one schema each on PostgreSQL.
    url = db_url.replace("test.db", "{service}.db")

    async def make(service: str) -> Database:
        metadata = service_registry().metadata
        _applied_table(metadata)
        db = Database(url, service=service, metadata=metadata)
        await db.create_all()
        made.append(db)
        return db

    yield make
    for db in made:
        await db.close()


def _applied_table(metadata: MetaData) -> Table:
    """The consumer's effect: one row per applied event (a duplicate would violate the key)."""
    return Table(
        "applied",
        metadata,
        Column("event_id", String(64), primary_key=True),
        Column("n", Integer, nullable=False),
    )


APPLIED = _applied_table(MetaData())


async def _applied(db: Database) -> dict[str, int]:
    async with db.transaction() as s:
        rows = (await s.connection()).execute(select(APPLIED.c.event_id, APPLIED.c.n))
        return {r[0]: r[1] for r in await rows}


async def test_committed_events_are_relayed_and_applied_once(
    make_bus: MakeBus, make_db: Callable[..., object]
) -> None:
    src_db: Database = await make_db("relaytest-src")  # type: ignore[misc]
    dst_db: Database = await make_db("relaytest-dst")  # type: ignore[misc]
    publisher = await make_bus("relaytest-src")
    consumer = await make_bus("relaytest-dst")

    async def apply(session: AsyncSession, event: ReceivedEvent[OrderPlaced]) -> None:
        conn = await session.connection()
        await conn.execute(insert(APPLIED).values(event_id=event.event_id, n=event.payload.order))

    single, batch = idempotent(dst_db, "on_order", apply)
    await consumer.subscribe(
        OrderPlaced, single, name="on_order", batch_handler=batch, policy=ConsumerPolicy()
    )
    relay = OutboxRelay(src_db, publisher, poll_interval_s=30)
    relay.start()
    ids = []
    with bind_correlation_id("trace-outbox"):
        for n in range(25):
            async with src_db.transaction() as s:
                ids.append(await enqueue(s, OrderPlaced(order=n)))
    # The poll interval is 30 s: only the commit notification can make this prompt.
    await wait_until(lambda: _count(dst_db, 25), 10)
    applied = await _applied(dst_db)
    assert sorted(applied) == sorted(ids)
    assert sorted(applied.values()) == list(range(25))
    async with src_db.transaction() as s:
        assert await fetch_unpublished(s, 10) == []
    # Publish every event again (a relay crash after publish, before marking): no effect.
    for n, eid in enumerate(ids):
        await publisher.publish(OrderPlaced(order=n), event_id=eid)
    await publisher.publish(OrderPlaced(order=99))
    await wait_until(lambda: _count(dst_db, 26), 10)
    assert len(await _applied(dst_db)) == 26
    await relay.stop()


async def _count(db: Database, n: int) -> bool:
    return len(await _applied(db)) >= n


async def test_rolled_back_transaction_publishes_nothing(
    make_bus: MakeBus, make_db: Callable[..., object]
) -> None:
    src_db: Database = await make_db("relaytest-src")  # type: ignore[misc]
    publisher = await make_bus("relaytest-src")
    relay = OutboxRelay(src_db, publisher, poll_interval_s=0.05)
    with pytest.raises(RuntimeError):
        async with src_db.transaction() as s:
            await enqueue(s, OrderPlaced(order=1))
            raise RuntimeError("business rule failed")
    assert await relay.relay_once() == 0
    assert relay.published == 0


async def test_enqueue_refuses_bad_input_and_writes_nothing(
    make_bus: MakeBus, make_db: Callable[..., object]
) -> None:
    src_db: Database = await make_db("relaytest-src")  # type: ignore[misc]
    publisher = await make_bus("relaytest-src")

    class Unregistered(Event):
        pass

    async with src_db.transaction() as s:
        with pytest.raises(InvalidInput):
            await enqueue(s, {"order": 1})  # type: ignore[arg-type]
        with pytest.raises(UnknownEventType):
            await enqueue(s, Unregistered())
        with pytest.raises(InvalidInput):
            await enqueue(s, OrderPlaced(order=1), event_id="not-a-uuid")
    relay = OutboxRelay(src_db, publisher)
    assert await relay.relay_once() == 0
