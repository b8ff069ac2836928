"""RabbitMQ restarted in the middle of 10,000 events: none lost, none applied twice.

Runs against a private RabbitMQ node (own node name, ports and data
directory), since the machine's broker is shared.
"""

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import distinct, func, select

from tentenone.service import ServiceRunner
from tentenone.testing import wait_until
from tentenone.testing.amqp import PrivateRabbit

from .ledger import AUDITED, EntryAdded, audit, ledger

EVENTS = 10_000
PER_TRANSACTION = 100


@pytest.fixture
async def stack(
    private_rabbitmq: PrivateRabbit, pg_url: str
) -> AsyncIterator[tuple[ServiceRunner, ServiceRunner]]:
    runners = []
    for service in (audit, ledger):
        settings = service.settings_cls(database_url=pg_url, amqp_url=private_rabbitmq.url)
        runner = ServiceRunner(service, settings, serve_http=False)
        await runner.start()
        runners.append(runner)
    yield runners[0], runners[1]
    for runner in reversed(runners):
        await runner.stop(grace_s=5)


async def _counts(auditor: ServiceRunner) -> tuple[int, int]:
    assert auditor.db is not None
    async with auditor.db.transaction() as s:
        conn = await s.connection()
        row = (
            await conn.execute(select(func.count(), func.count(distinct(AUDITED.c.event_id))))
        ).one()
        return int(row[0]), int(row[1])


@pytest.mark.slow
async def test_broker_restart_mid_stream_loses_nothing_applies_nothing_twice(
    private_rabbitmq: PrivateRabbit, stack: tuple[ServiceRunner, ServiceRunner]
) -> None:
    auditor, book = stack
    assert book.ctx is not None
    ctx = book.ctx

    async def produce() -> None:
        for i in range(EVENTS // PER_TRANSACTION):
            async with ctx.transaction() as session:
                for j in range(PER_TRANSACTION):
                    entry = EntryAdded(entry_id=f"{i}-{j}", amount_sat=i * PER_TRANSACTION + j)
                    await ctx.publish(session, entry)

    producer = asyncio.create_task(produce())
    await wait_until(lambda: _at_least(auditor, 1500), 120, interval=0.2)
    await asyncio.to_thread(private_rabbitmq.stop_app)
    applied_at_stop = (await _counts(auditor))[0]
    await asyncio.to_thread(private_rabbitmq.start_app)
    await producer
    await wait_until(lambda: _at_least(auditor, EVENTS), 300, interval=0.5)
    total, unique = await _counts(auditor)
    assert applied_at_stop < EVENTS, "the restart did not happen mid-stream"
    assert unique == EVENTS, "events were lost"
    assert total == EVENTS, "events were applied twice"


async def _at_least(auditor: ServiceRunner, n: int) -> bool:
    return (await _counts(auditor))[0] >= n
