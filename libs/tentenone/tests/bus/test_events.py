"""Events: the same contract on the in-process bus and on RabbitMQ."""

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from tentenone.bus import ConsumerPolicy, ReceivedEvent
from tentenone.errors import InvalidInput
from tentenone.logging import bind_correlation_id
from tentenone.testing import wait_until
from tentenone.wire import Event

from .conftest import MakeBus

FAST = ConsumerPolicy(max_attempts=3, backoff_base_s=0.05, backoff_max_s=0.2, prefetch=16)


class ThingHappened(Event):
    """A test event."""

    event_type = "bustest.thing_happened"
    source = "bustest-src"
    n: int
    note: str = ""


class Collector:
    def __init__(self, fail: dict[int, int] | None = None, invalid: set[int] | None = None):
        self.seen: list[ReceivedEvent[ThingHappened]] = []
        self.done: list[int] = []
        self._fail = dict(fail or {})
        self._invalid = invalid or set()

    async def __call__(self, event: ReceivedEvent[ThingHappened]) -> None:
        self.seen.append(event)
        n = event.payload.n
        if n in self._invalid:
            raise InvalidInput(f"{n} is not acceptable")
        if self._fail.get(n, 0) != 0:
            self._fail[n] -= 1
            raise RuntimeError(f"transient failure for {n}")
        self.done.append(n)


async def test_published_event_reaches_subscriber_with_its_envelope(make_bus: MakeBus) -> None:
    publisher = await make_bus("bustest-src")
    consumer = await make_bus("bustest-dst")
    got = Collector()
    await consumer.subscribe(ThingHappened, got, name="on_thing", policy=FAST)
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    with bind_correlation_id("trace-123"):
        eid = await publisher.publish(ThingHappened(n=7, note="x"), occurred_at=at)
    await wait_until(lambda: got.done, 10)
    ev = got.seen[0]
    assert ev.payload == ThingHappened(n=7, note="x")
    assert ev.event_id == eid
    assert ev.occurred_at == at
    assert ev.correlation_id == "trace-123"
    assert ev.attempt == 1
    assert (ev.source, ev.event_type) == ("bustest-src", "bustest.thing_happened")


async def test_each_consumer_gets_every_event_and_instances_share_work(make_bus: MakeBus) -> None:
    publisher = await make_bus("bustest-src")
    a1, a2, b = [await make_bus(s) for s in ("bustest-a", "bustest-a", "bustest-b")]
    got_a1, got_a2, got_b = Collector(), Collector(), Collector()
    await a1.subscribe(ThingHappened, got_a1, name="h", policy=FAST)
    await a2.subscribe(ThingHappened, got_a2, name="h", policy=FAST)
    await b.subscribe(ThingHappened, got_b, name="h", policy=FAST)
    for n in range(20):
        await publisher.publish(ThingHappened(n=n))
    await wait_until(lambda: len(got_b.done) == 20 and len(got_a1.done) + len(got_a2.done) == 20)
    assert sorted(got_a1.done + got_a2.done) == list(range(20))
    assert got_b.done == list(range(20))  # one consumer: in publish order


async def test_transient_failures_are_retried_with_attempt_numbers(make_bus: MakeBus) -> None:
    publisher = await make_bus("bustest-src")
    consumer = await make_bus("bustest-dst")
    got = Collector(fail={1: 2})
    sub = await consumer.subscribe(ThingHappened, got, name="retrying", policy=FAST)
    await publisher.publish(ThingHappened(n=1))
    await wait_until(lambda: got.done == [1], 10)
    assert [e.attempt for e in got.seen] == [1, 2, 3]
    assert await consumer.dead_letters(sub.queue) == []


async def test_poison_goes_to_dead_letters_while_others_flow(make_bus: MakeBus) -> None:
    publisher = await make_bus("bustest-src")
    consumer = await make_bus("bustest-dst")
    got = Collector(fail={5: 1000})
    sub = await consumer.subscribe(ThingHappened, got, name="poisoned", policy=FAST)
    for n in range(10):
        await publisher.publish(ThingHappened(n=n))
    await wait_until(lambda: len(got.done) == 9, 10)
    dead = await wait_until(lambda: consumer.dead_letters(sub.queue), 10)
    assert sorted(got.done) == [n for n in range(10) if n != 5]
    assert [e.attempt for e in got.seen if e.payload.n == 5] == [1, 2, 3]
    assert len(dead) == 1
    assert ThingHappened.model_validate_json(dead[0].body).n == 5
    assert dead[0].error_code == "internal"
    assert dead[0].error is not None and "transient failure for 5" in dead[0].error
    assert dead[0].attempts == 3
    # Looking does not remove: the message is still there for an operator.
    assert len(await consumer.dead_letters(sub.queue)) == 1
    assert await consumer.queue_depth(sub.queue) == 0


async def test_invalid_input_is_dead_lettered_without_retries(make_bus: MakeBus) -> None:
    publisher = await make_bus("bustest-src")
    consumer = await make_bus("bustest-dst")
    got = Collector(invalid={3})
    sub = await consumer.subscribe(ThingHappened, got, name="strict", policy=FAST)
    await publisher.publish(ThingHappened(n=3))
    dead = await wait_until(lambda: consumer.dead_letters(sub.queue), 10)
    assert len(got.seen) == 1
    assert dead[0].error_code == "invalid_input"


async def test_malformed_body_is_dead_lettered(make_bus: MakeBus) -> None:
    publisher = await make_bus("bustest-src")
    consumer = await make_bus("bustest-dst")
    got = Collector()
    sub = await consumer.subscribe(ThingHappened, got, name="typed", policy=FAST)
    await publisher.publish_raw(
        "bustest-src",
        "bustest.thing_happened",
        b'{"n": "not a number"}',
        event_id="6f1c1d4e-9c2a-4a8e-8f53-0c6d2a1b9e77",
    )
    await publisher.publish(ThingHappened(n=1))
    await wait_until(lambda: got.done == [1], 10)
    dead = await wait_until(lambda: consumer.dead_letters(sub.queue), 10)
    assert got.seen[0].payload.n == 1
    assert dead[0].error_code == "malformed_message"
    assert dead[0].message_id == "6f1c1d4e-9c2a-4a8e-8f53-0c6d2a1b9e77"


async def test_batch_handler_gets_batches_and_falls_back_on_failure(make_bus: MakeBus) -> None:
    publisher = await make_bus("bustest-src")
    consumer = await make_bus("bustest-dst")
    batches: list[list[int]] = []
    single = Collector(fail={13: 1})

    async def batch(events: Sequence[ReceivedEvent[ThingHappened]]) -> None:
        ns = [e.payload.n for e in events]
        batches.append(ns)
        if 13 in ns:
            raise RuntimeError("13 spoils the batch")
        single.done.extend(ns)

    gate = asyncio.Event()

    async def slow_first(event: ReceivedEvent[ThingHappened]) -> None:
        await gate.wait()
        await single(event)

    policy = ConsumerPolicy(batch_size=50, backoff_base_s=0.05, prefetch=100)
    await consumer.subscribe(
        ThingHappened, slow_first, name="batched", policy=policy, batch_handler=batch
    )
    await publisher.publish(ThingHappened(n=-1))  # held by the gate while the rest queue up
    for n in range(30):
        await publisher.publish(ThingHappened(n=n))
    await asyncio.sleep(0)
    gate.set()
    await wait_until(lambda: sorted(single.done) == list(range(-1, 30)), 10)
    assert any(len(b) > 1 for b in batches), batches
    assert sorted(single.done).count(13) == 1


async def test_close_finishes_the_handler_in_flight(make_bus: MakeBus) -> None:
    publisher = await make_bus("bustest-src")
    consumer = await make_bus("bustest-dst")
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[int] = []

    async def slow(event: ReceivedEvent[ThingHappened]) -> None:
        started.set()
        await release.wait()
        finished.append(event.payload.n)

    sub = await consumer.subscribe(ThingHappened, slow, name="slow", policy=FAST)
    await publisher.publish(ThingHappened(n=1))
    await asyncio.wait_for(started.wait(), 10)
    closing = asyncio.create_task(consumer.close(grace_s=10))
    await asyncio.sleep(0.05)
    release.set()
    await closing
    assert finished == [1]
    # It was acked: a new consumer on the same queue gets nothing.
    again = await make_bus("bustest-dst")
    got = Collector()
    await again.subscribe(ThingHappened, got, name="slow", policy=FAST)
    await publisher.publish(ThingHappened(n=2))
    await wait_until(lambda: got.done, 10)
    assert got.done == [2]
    assert sub.queue.endswith("--bustest-dst.slow")


async def test_raw_subscription_sees_json(make_bus: MakeBus) -> None:
    publisher = await make_bus("bustest-src")
    consumer = await make_bus("bustest-dst")
    seen: list[Any] = []

    async def raw(event: ReceivedEvent[Any]) -> None:
        seen.append(event.payload)

    await consumer.subscribe_raw("bustest-src", "bustest.raw_thing", raw, name="raw")
    await publisher.publish_raw("bustest-src", "bustest.raw_thing", b'{"a": [1, 2]}')
    await wait_until(lambda: seen, 10)
    assert seen == [{"a": [1, 2]}]


@pytest.mark.parametrize("limit", [3])
async def test_crash_looping_message_is_dead_lettered_by_the_broker(
    make_bus: MakeBus, limit: int
) -> None:
    """A consumer that dies on a message (never acks) is protected by the delivery limit."""
    publisher = await make_bus("bustest-src")
    deliveries = 0
    policy = ConsumerPolicy(delivery_limit=limit, prefetch=1)
    crashed = asyncio.Event()
    for _ in range(limit + 1):
        consumer = await make_bus("bustest-dst")
        seen = asyncio.Event()

        async def die(event: ReceivedEvent[ThingHappened], seen: asyncio.Event = seen) -> None:
            nonlocal deliveries
            deliveries += 1
            seen.set()
            await crashed.wait()  # the "process" dies before it returns

        sub = await consumer.subscribe(ThingHappened, die, name="crashy", policy=policy)
        if deliveries == 0:
            await publisher.publish(ThingHappened(n=9))
        await asyncio.wait_for(seen.wait(), 10)
        # Dropping the connection without an ack is what a crash looks like to the broker.
        await consumer.transport.close()
    crashed.set()
    checker = await make_bus("bustest-dst")
    dead = await wait_until(lambda: checker.dead_letters(sub.queue), 10)
    assert deliveries == limit + 1
    assert dead[0].error_code == "broker_delivery_limit"
