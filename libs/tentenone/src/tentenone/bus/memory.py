"""The in-process broker of the embedded default: RabbitMQ's routing in one event loop.

It implements what the bus relies on, the way RabbitMQ does it: topic and
direct exchanges plus the default exchange, mandatory publishes that fail
when unroutable, consumers with prefetch and manual acks, requeue on nack or
consumer loss with a delivery count, ``delivery_limit`` and per-message
expiration that dead-letter to a configured exchange/routing key. Nothing is
persisted: a message lives as long as the process (the outbox, not the
broker, is what survives a crash in the embedded default).

Every service of the process connects its own ``MemoryTransport`` to one
shared ``MemoryBroker``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from tentenone.bus.errors import BusUnavailable, UnknownService
from tentenone.bus.message import Delivery, Envelope
from tentenone.bus.transport import (
    ConsumerHandle,
    ExchangeKind,
    OnDelivery,
    OnReconnect,
    QueueSpec,
    Transport,
)
from tentenone.errors import ConfigError

__all__ = ["MemoryBroker", "MemoryTransport", "topic_matches"]


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is one word, ``#`` is zero or more words."""
    return _match(pattern.split("."), routing_key.split("."))


def _match(pat: list[str], key: list[str]) -> bool:
    if not pat:
        return not key
    head, rest = pat[0], pat[1:]
    if head == "#":
        return any(_match(rest, key[i:]) for i in range(len(key) + 1))
    if not key:
        return False
    return (head in ("*", key[0])) and _match(rest, key[1:])


@dataclass(eq=False)
class _Message:
    exchange: str
    routing_key: str
    envelope: Envelope
    headers: dict[str, Any]
    delivery_count: int = 0
    expiry: asyncio.TimerHandle | None = None


@dataclass(eq=False)
class _Consumer:
    queue: _Queue
    on_delivery: OnDelivery
    prefetch: int
    owner: MemoryTransport
    auto_ack: bool = False
    #: insertion-ordered, so a closed consumer returns messages in delivery order
    unacked: dict[_Message, None] = field(default_factory=dict)
    active: bool = True


class _Queue:
    def __init__(self, broker: MemoryBroker, spec: QueueSpec, owner: MemoryTransport) -> None:
        self.broker = broker
        self.spec = spec
        self.owner = owner
        self.ready: deque[_Message] = deque()
        self.consumers: list[_Consumer] = []
        self._rr = itertools.count()

    def enqueue(self, msg: _Message, front: bool = False) -> None:
        if front:
            self.ready.appendleft(msg)
        else:
            self.ready.append(msg)
        exp = msg.envelope.expiration_s
        if exp is not None and msg.expiry is None:
            msg.expiry = asyncio.get_running_loop().call_later(exp, self._expire, msg)
        self.dispatch()

    def _expire(self, msg: _Message) -> None:
        msg.expiry = None
        if msg in self.ready:
            self.ready.remove(msg)
            self.broker.dead_letter(self, msg, "expired")

    def dispatch(self) -> None:
        while self.ready:
            consumer = self._next_consumer()
            if consumer is None:
                return
            msg = self.ready.popleft()
            if msg.expiry is not None:
                msg.expiry.cancel()
                msg.expiry = None
            delivery = _MemoryDelivery(consumer, msg)
            if consumer.auto_ack:
                delivery.auto_acked()
            else:
                consumer.unacked[msg] = None
            self.broker.spawn(consumer.on_delivery(delivery))

    def _next_consumer(self) -> _Consumer | None:
        free = [c for c in self.consumers if c.active and len(c.unacked) < c.prefetch]
        if not free:
            return None
        return free[next(self._rr) % len(free)]

    def settle(self, msg: _Message, requeue: bool | None) -> None:
        """Ack (requeue None), reject (False) or return (True) an unacked message."""
        if requeue is True:
            msg.delivery_count += 1
            limit = self.spec.delivery_limit
            if limit is not None and msg.delivery_count > limit:
                self.broker.dead_letter(self, msg, "delivery_limit")
            else:
                self.enqueue(msg, front=True)
        elif requeue is False:
            self.broker.dead_letter(self, msg, "rejected")
        self.dispatch()


class _MemoryDelivery(Delivery):
    def __init__(self, consumer: _Consumer | None, msg: _Message, queue: _Queue | None = None):
        self._consumer = consumer
        self._queue = queue or (consumer.queue if consumer else None)
        self._msg = msg
        self._settled = False
        self._auto = False
        env = msg.envelope
        self.exchange = msg.exchange
        self.routing_key = msg.routing_key
        self.body = env.body
        self.headers = dict(msg.headers)
        if msg.delivery_count:
            self.headers["x-delivery-count"] = msg.delivery_count
        self.message_id = env.message_id
        self.correlation_id = env.correlation_id
        self.reply_to = env.reply_to
        self.content_type = env.content_type
        self.redelivered = msg.delivery_count > 0
        self.delivery_count = msg.delivery_count

    def auto_acked(self) -> None:
        self._settled = self._auto = True

    def _settle(self, requeue: bool | None) -> None:
        if self._auto:
            return
        if self._settled:
            raise BusUnavailable("message was already acknowledged or rejected")
        consumer = self._consumer
        if consumer is not None and self._msg not in consumer.unacked:
            # The consumer closed first and the message went back to its queue.
            raise BusUnavailable("the consumer's channel is closed; the message was requeued")
        self._settled = True
        if consumer is not None:
            consumer.unacked.pop(self._msg, None)
        assert self._queue is not None
        self._queue.settle(self._msg, requeue)

    async def ack(self, multiple: bool = False) -> None:
        consumer = self._consumer
        if multiple and consumer is not None and self._msg in consumer.unacked:
            # Every message delivered to this consumer before this one, like basic.ack multiple.
            for earlier in list(consumer.unacked):
                if earlier is self._msg:
                    break
                consumer.unacked.pop(earlier)
                consumer.queue.settle(earlier, None)
        self._settle(None)

    async def nack(self, requeue: bool) -> None:
        self._settle(requeue)


class _MemoryConsumerHandle(ConsumerHandle):
    def __init__(self, consumer: _Consumer) -> None:
        self._consumer = consumer

    async def cancel(self) -> None:
        self._consumer.active = False

    async def close(self) -> None:
        c = self._consumer
        c.active = False
        if c in c.queue.consumers:
            c.queue.consumers.remove(c)
        # Returned in delivery order, each counted as a redelivery (as quorum queues do).
        returned = list(c.unacked)
        c.unacked.clear()
        for msg in reversed(returned):
            c.queue.settle(msg, True)


class MemoryBroker:
    """Exchanges, bindings and queues shared by the transports of one process."""

    def __init__(self) -> None:
        self.exchanges: dict[str, ExchangeKind] = {}
        self.bindings: dict[str, list[tuple[str, str]]] = {}
        self.queues: dict[str, _Queue] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def route(self, exchange: str, routing_key: str) -> list[_Queue]:
        if exchange == "":
            q = self.queues.get(routing_key)
            return [q] if q else []
        kind = self.exchanges.get(exchange)
        if kind is None:
            raise BusUnavailable(f"no exchange {exchange!r}")
        names: list[str] = []
        for pattern, queue in self.bindings.get(exchange, []):
            hit = (
                topic_matches(pattern, routing_key)
                if kind is ExchangeKind.TOPIC
                else (pattern == routing_key)
            )
            if hit and queue not in names:
                names.append(queue)
        return [self.queues[n] for n in names if n in self.queues]

    def dead_letter(self, queue: _Queue, msg: _Message, reason: str) -> None:
        spec = queue.spec
        if spec.dead_letter_exchange is None:
            return
        key = spec.dead_letter_routing_key or msg.routing_key
        headers = dict(msg.headers)
        deaths = list(headers.get("x-death") or [])
        deaths.insert(0, {"reason": reason, "queue": spec.name, "count": 1})
        headers["x-death"] = deaths
        headers.setdefault("x-first-death-reason", reason)
        headers.setdefault("x-first-death-queue", spec.name)
        env = msg.envelope
        # The dead-lettered copy has no expiry of its own (RabbitMQ removes it too).
        copy = Envelope(
            body=env.body,
            headers=headers,
            message_id=env.message_id,
            correlation_id=env.correlation_id,
            reply_to=env.reply_to,
            persistent=env.persistent,
            content_type=env.content_type,
            content_encoding=env.content_encoding,
        )
        for target in self.route(spec.dead_letter_exchange, key):
            target.enqueue(_Message(spec.dead_letter_exchange, key, copy, headers))


class MemoryTransport(Transport):
    """One service's connection to the in-process broker."""

    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker
        self._open = False
        self._consumers: list[_MemoryConsumerHandle] = []
        self._owned: list[str] = []

    def _check_open(self) -> None:
        if not self._open:
            raise BusUnavailable("the in-process bus connection is closed")

    async def connect(self) -> None:
        self._open = True

    async def close(self) -> None:
        for handle in self._consumers:
            await handle.close()
        self._consumers.clear()
        for name in self._owned:
            q = self._broker.queues.get(name)
            if q is not None and (q.spec.exclusive or q.spec.auto_delete):
                del self._broker.queues[name]
        self._open = False

    async def ping(self) -> None:
        self._check_open()

    async def declare_exchange(self, name: str, kind: ExchangeKind) -> None:
        self._check_open()
        known = self._broker.exchanges.setdefault(name, kind)
        if known is not kind:
            raise ConfigError(f"exchange {name!r} exists as {known}, not {kind}")

    async def declare_queue(self, spec: QueueSpec) -> None:
        self._check_open()
        known = self._broker.queues.get(spec.name)
        if known is None:
            self._broker.queues[spec.name] = _Queue(self._broker, spec, self)
            self._owned.append(spec.name)
        elif known.spec != spec:
            raise ConfigError(f"queue {spec.name!r} exists with other arguments: {known.spec}")

    async def bind(self, queue: str, exchange: str, routing_key: str) -> None:
        self._check_open()
        if queue not in self._broker.queues or exchange not in self._broker.exchanges:
            raise ConfigError(f"cannot bind {queue!r} to {exchange!r}: declare both first")
        binds = self._broker.bindings.setdefault(exchange, [])
        if (routing_key, queue) not in binds:
            binds.append((routing_key, queue))

    async def publish(
        self, exchange: str, routing_key: str, envelope: Envelope, *, mandatory: bool = False
    ) -> None:
        self._check_open()
        targets = self._broker.route(exchange, routing_key)
        if mandatory and not targets:
            raise UnknownService(f"nothing is bound to {routing_key!r} on {exchange!r}")
        for q in targets:
            q.enqueue(_Message(exchange, routing_key, envelope, dict(envelope.headers)))

    async def consume(
        self, queue: str, on_delivery: OnDelivery, prefetch: int, *, auto_ack: bool = False
    ) -> ConsumerHandle:
        self._check_open()
        q = self._queue(queue)
        consumer = _Consumer(q, on_delivery, prefetch, self, auto_ack=auto_ack)
        q.consumers.append(consumer)
        handle = _MemoryConsumerHandle(consumer)
        self._consumers.append(handle)
        q.dispatch()
        return handle

    async def get(self, queue: str) -> Delivery | None:
        self._check_open()
        q = self._queue(queue)
        if not q.ready:
            return None
        msg = q.ready.popleft()
        if msg.expiry is not None:
            msg.expiry.cancel()
            msg.expiry = None
        return _MemoryDelivery(None, msg, q)

    async def queue_depth(self, queue: str) -> int:
        self._check_open()
        return len(self._queue(queue).ready)

    async def delete_queue(self, queue: str) -> None:
        self._check_open()
        q = self._broker.queues.pop(queue, None)
        if q is not None:
            for c in q.consumers:
                c.active = False
        for binds in self._broker.bindings.values():
            binds[:] = [b for b in binds if b[1] != queue]

    def on_reconnect(self, callback: OnReconnect) -> None:
        # The in-process broker never disconnects.
        return None

    def _queue(self, name: str) -> _Queue:
        q = self._broker.queues.get(name)
        if q is None:
            raise ConfigError(f"no queue {name!r}")
        return q
