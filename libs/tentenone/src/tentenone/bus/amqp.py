"""RabbitMQ transport on aio-pika: robust connection, publisher confirms, manual acks.

One robust connection per bus. Channels: two for publishing (confirms on,
unroutable mandatory messages raise): one for persistent messages (events),
one for transient ones (RPC requests and replies), so a call's reply never
waits behind events the broker is writing to disk; one for declarations,
one per consumer (its own prefetch), one for ``get``. aio-pika's robust objects
re-declare exchanges, queues, bindings and consumers after a reconnect;
what was in flight at the moment of the loss fails with ``BusUnavailable``
and is retried by the caller (the relay) or redelivered by the broker.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, DeliveryError, PublishError
from aiormq.connection import TransportFactory
from yarl import URL

from tentenone.bus.errors import BusUnavailable, UnknownService
from tentenone.bus.message import Delivery, Envelope
from tentenone.bus.transport import (
    ConsumerHandle,
    ExchangeKind,
    OnDelivery,
    OnReconnect,
    QueueKind,
    QueueSpec,
    Transport,
)
from tentenone.errors import ConfigError

__all__ = ["AmqpTransport", "queue_arguments"]

_log = logging.getLogger(__name__)


def queue_arguments(spec: QueueSpec) -> dict[str, Any]:
    """The ``x-`` arguments RabbitMQ is given for ``spec``."""
    args: dict[str, Any] = {}
    if spec.kind is QueueKind.QUORUM:
        args["x-queue-type"] = "quorum"
    if spec.dead_letter_exchange is not None:
        args["x-dead-letter-exchange"] = spec.dead_letter_exchange
        if spec.dead_letter_routing_key is not None:
            args["x-dead-letter-routing-key"] = spec.dead_letter_routing_key
        if spec.kind is QueueKind.QUORUM:
            # At-most-once dead-lettering (the default) can lose a message if the
            # broker fails mid-way; at-least-once needs reject-publish overflow.
            args["x-dead-letter-strategy"] = "at-least-once"
            args["x-overflow"] = "reject-publish"
    if spec.delivery_limit is not None and spec.kind is QueueKind.QUORUM:
        # Only quorum queues count deliveries; a classic queue has no such guard.
        args["x-delivery-limit"] = spec.delivery_limit
    return args


class _AmqpDelivery(Delivery):
    def __init__(self, msg: AbstractIncomingMessage, auto_ack: bool = False) -> None:
        self._msg = msg
        self._auto_ack = auto_ack
        self.exchange = msg.exchange or ""
        self.routing_key = msg.routing_key or ""
        self.body = msg.body
        self.headers = dict(msg.headers or {})
        self.message_id = msg.message_id
        self.correlation_id = msg.correlation_id
        self.reply_to = msg.reply_to
        self.content_type = msg.content_type
        self.redelivered = bool(msg.redelivered)
        count = self.headers.get("x-delivery-count")
        self.delivery_count = count if isinstance(count, int) else int(self.redelivered)

    async def ack(self, multiple: bool = False) -> None:
        if self._auto_ack:
            return
        try:
            await self._msg.ack(multiple=multiple)
        except CONNECTION_EXCEPTIONS as exc:
            raise BusUnavailable(f"ack failed, the broker will redeliver: {exc!r}") from exc

    async def nack(self, requeue: bool) -> None:
        try:
            await self._msg.nack(requeue=requeue)
        except CONNECTION_EXCEPTIONS as exc:
            raise BusUnavailable(f"nack failed, the broker will redeliver: {exc!r}") from exc


class _AmqpConsumer(ConsumerHandle):
    def __init__(self, channel: AbstractChannel, queue: AbstractQueue, tag: str) -> None:
        self._channel = channel
        self._queue = queue
        self._tag = tag
        self._cancelled = False

    async def cancel(self) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        try:
            await self._queue.cancel(self._tag, timeout=5)
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            _log.warning("cancelling consumer of %s failed: %r", self._queue.name, exc)

    async def close(self) -> None:
        await self.cancel()
        try:
            await asyncio.wait_for(self._channel.close(), 5)
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            _log.warning("closing consumer channel of %s failed: %r", self._queue.name, exc)


class _BatchingWriter(asyncio.StreamWriter):
    """Frames written in one turn of the event loop leave in one ``send``, in order.

    aiormq writes each frame (a publish, an ack) on its own; on this kind of
    machine every ``send`` on loopback costs a system call and a wake-up of
    the broker, which was the largest single cost of a relay round or an RPC
    (ADR 0019). Whatever is written before the loop turns goes out together.
    """

    def __init__(
        self,
        transport: asyncio.WriteTransport,
        protocol: asyncio.StreamReaderProtocol,
        reader: asyncio.StreamReader,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(transport, protocol, reader, loop)
        self._pending: list[bytes] = []
        self._flush_loop = loop

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._flush_loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, data: Any) -> None:
        for chunk in data:
            self.write(chunk)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self.transport.is_closing():
                super().write(data)

    async def drain(self) -> None:
        self._flush()
        await super().drain()

    def write_eof(self) -> None:
        self._flush()
        super().write_eof()

    def close(self) -> None:
        self._flush()
        super().close()


class _BatchingTcp(TransportFactory):
    """aiormq's plain TCP connection, with a ``_BatchingWriter``."""

    async def create(
        self, url: URL, **kwargs: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        kwargs.pop("ssl_context_provider", None)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            transport, _ = await loop.create_connection(
                lambda: protocol, url.host or "localhost", url.port or 5672, **kwargs
            )
        except OSError as exc:
            raise aiormq.exceptions.AMQPConnectionError(*exc.args) from exc
        return reader, _BatchingWriter(transport, protocol, reader, loop)


class _RobustConnection(aio_pika.RobustConnection):
    """aio-pika's robust connection on a ``_BatchingTcp`` (plain ``amqp://`` only).

    aio-pika passes its ``kwargs`` on to ``aiormq.connect`` at each (re)connect.
    """

    def __init__(self, url: URL, loop: asyncio.AbstractEventLoop | None = None, **kw: Any) -> None:
        super().__init__(url, loop, **kw)
        if self.url.scheme == "amqp":
            self.kwargs["transport_factory"] = _BatchingTcp()


class AmqpTransport(Transport):
    def __init__(
        self,
        url: str,
        *,
        connection_name: str = "tentenone",
        publish_timeout_s: float = 10.0,
        connect_timeout_s: float = 10.0,
        reconnect_interval_s: float = 1.0,
    ) -> None:
        self._url = url
        self._name = connection_name
        self._publish_timeout = publish_timeout_s
        self._connect_timeout = connect_timeout_s
        self._reconnect_interval = reconnect_interval_s
        self._conn: AbstractRobustConnection | None = None
        self._pub: AbstractChannel | None = None
        self._pub_transient: AbstractChannel | None = None
        self._admin: AbstractChannel | None = None
        self._getter: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._queues: dict[str, QueueSpec] = {}
        self._reconnect_callbacks: list[OnReconnect] = []
        self._consumers: list[_AmqpConsumer] = []

    async def connect(self) -> None:
        try:
            self._conn = await aio_pika.connect_robust(
                self._url,
                timeout=self._connect_timeout,
                reconnect_interval=self._reconnect_interval,
                client_properties={"connection_name": self._name},
                connection_class=_RobustConnection,
            )
            self._pub = await self._conn.channel(publisher_confirms=True, on_return_raises=True)
            self._pub_transient = await self._conn.channel(
                publisher_confirms=True, on_return_raises=True
            )
            self._admin = await self._conn.channel(publisher_confirms=False)
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            raise BusUnavailable(f"cannot connect to RabbitMQ: {exc!r}") from exc
        self._conn.reconnect_callbacks.add(self._reconnected)

    async def _reconnected(self, *_: Any) -> None:
        _log.warning("reconnected to RabbitMQ")
        for cb in list(self._reconnect_callbacks):
            try:
                await cb()
            except Exception:
                _log.exception("reconnect callback failed")

    async def close(self) -> None:
        for consumer in self._consumers:
            await consumer.close()
        self._consumers.clear()
        if self._conn is not None:
            try:
                await asyncio.wait_for(self._conn.close(), 10)
            except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
                _log.warning("closing the RabbitMQ connection failed: %r", exc)
        self._conn = self._pub = self._pub_transient = self._admin = self._getter = None
        self._exchanges.clear()

    def _connection(self) -> AbstractRobustConnection:
        if self._conn is None or self._conn.is_closed:
            raise BusUnavailable("not connected to RabbitMQ")
        return self._conn

    def _channel(self, channel: AbstractChannel | None) -> AbstractChannel:
        self._connection()
        if channel is None:
            raise BusUnavailable("not connected to RabbitMQ")
        return channel

    async def ping(self) -> None:
        conn = self._connection()
        try:
            # A round trip on a fresh channel proves the broker answers now.
            channel = await asyncio.wait_for(conn.channel(publisher_confirms=False), 5)
            await asyncio.wait_for(channel.close(), 5)
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            raise BusUnavailable(f"RabbitMQ does not answer: {exc!r}") from exc

    async def declare_exchange(self, name: str, kind: ExchangeKind) -> None:
        admin = self._channel(self._admin)
        try:
            ex = await admin.declare_exchange(
                name, aio_pika.ExchangeType(kind.value), durable=True, timeout=10
            )
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            raise ConfigError(f"exchange {name!r} exists with other arguments: {exc}") from exc
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            raise BusUnavailable(f"declaring exchange {name!r} failed: {exc!r}") from exc
        self._exchanges.setdefault(name, ex)

    async def declare_queue(self, spec: QueueSpec) -> None:
        await self._declare_on(self._channel(self._admin), spec)
        self._queues[spec.name] = spec

    async def _declare_on(self, channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
        try:
            return await channel.declare_queue(
                spec.name,
                durable=spec.durable or spec.kind is QueueKind.QUORUM,
                exclusive=spec.exclusive,
                auto_delete=spec.auto_delete,
                arguments=queue_arguments(spec),
                timeout=10,
            )
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            raise ConfigError(f"queue {spec.name!r} exists with other arguments: {exc}") from exc
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            raise BusUnavailable(f"declaring queue {spec.name!r} failed: {exc!r}") from exc

    async def bind(self, queue: str, exchange: str, routing_key: str) -> None:
        admin = self._channel(self._admin)
        spec = self._queues.get(queue)
        if spec is None or exchange not in self._exchanges:
            raise ConfigError(f"cannot bind {queue!r} to {exchange!r}: declare both first")
        try:
            q = await self._declare_on(admin, spec)
            await q.bind(exchange, routing_key, timeout=10)
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            raise BusUnavailable(f"binding {queue!r} to {exchange!r} failed: {exc!r}") from exc

    async def _publish_channel(self, exchange: str, persistent: bool) -> aiormq.Channel:
        # A channel confirms in its own order (one process in the broker): a
        # transient message behind persistent ones would wait for their fsync.
        pub = self._channel(self._pub if persistent else self._pub_transient)
        if exchange != "" and exchange not in self._exchanges:
            raise ConfigError(f"exchange {exchange!r} was not declared")
        # The robust channel's current underlying channel (a new one after a reconnect).
        # aiormq's own Channel (its abstract class lacks basic_publish's ``wait``).
        return cast(aiormq.Channel, await pub.get_underlay_channel())

    async def publish(
        self, exchange: str, routing_key: str, envelope: Envelope, *, mandatory: bool = False
    ) -> None:
        # Properties built directly: aio_pika.Message costs more than the publish itself.
        properties = aiormq.spec.Basic.Properties(
            content_type=envelope.content_type,
            content_encoding=envelope.content_encoding,
            headers=dict(envelope.headers),
            delivery_mode=2 if envelope.persistent else 1,
            correlation_id=envelope.correlation_id,
            reply_to=envelope.reply_to,
            message_id=envelope.message_id,
            expiration=(
                None
                if envelope.expiration_s is None
                else str(max(0, int(envelope.expiration_s * 1000)))
            ),
        )
        try:
            async with asyncio.timeout(self._publish_timeout):
                channel = await self._publish_channel(exchange, envelope.persistent)
                # wait=False: do not hold the channel until the frame is written;
                # the broker's confirm is still awaited. Publishes in flight then
                # reach the writer together and leave in one send (_BatchingWriter).
                await channel.basic_publish(
                    envelope.body,
                    exchange=exchange,
                    routing_key=routing_key,
                    properties=properties,
                    mandatory=mandatory,
                    wait=False,
                )
        except PublishError as exc:
            raise UnknownService(f"nothing is bound to {routing_key!r} on {exchange!r}") from exc
        except DeliveryError as exc:
            raise BusUnavailable(f"RabbitMQ refused the message: {exc!r}") from exc
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            raise BusUnavailable(f"publish to {exchange!r} not confirmed: {exc!r}") from exc

    async def consume(
        self, queue: str, on_delivery: OnDelivery, prefetch: int, *, auto_ack: bool = False
    ) -> ConsumerHandle:
        spec = self._queues.get(queue)
        if spec is None:
            raise ConfigError(f"queue {queue!r} was not declared")
        conn = self._connection()
        try:
            channel = await conn.channel(publisher_confirms=False)
            await channel.set_qos(prefetch_count=prefetch)
            q = await self._declare_on(channel, spec)

            async def deliver(msg: AbstractIncomingMessage) -> None:
                await on_delivery(_AmqpDelivery(msg, auto_ack))

            tag = await q.consume(deliver, no_ack=auto_ack, timeout=10)
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            raise BusUnavailable(f"consuming {queue!r} failed: {exc!r}") from exc
        handle = _AmqpConsumer(channel, q, tag)
        self._consumers.append(handle)
        return handle

    async def get(self, queue: str) -> Delivery | None:
        conn = self._connection()
        try:
            if self._getter is None or self._getter.is_closed:
                self._getter = await conn.channel(publisher_confirms=False)
            q = await self._getter.declare_queue(queue, passive=True, timeout=10)
            msg = await q.get(no_ack=False, fail=False, timeout=10)
        except aiormq.exceptions.ChannelNotFoundEntity as exc:
            raise ConfigError(f"no queue {queue!r}") from exc
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            raise BusUnavailable(f"get from {queue!r} failed: {exc!r}") from exc
        return None if msg is None else _AmqpDelivery(msg)

    async def queue_depth(self, queue: str) -> int:
        conn = self._connection()
        try:
            channel = await conn.channel(publisher_confirms=False)
            try:
                q = await channel.declare_queue(queue, passive=True, timeout=10)
                return int(q.declaration_result.message_count or 0)
            finally:
                if not channel.is_closed:
                    await channel.close()
        except aiormq.exceptions.ChannelNotFoundEntity as exc:
            raise ConfigError(f"no queue {queue!r}") from exc
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            raise BusUnavailable(f"reading the depth of {queue!r} failed: {exc!r}") from exc

    async def delete_queue(self, queue: str) -> None:
        admin = self._channel(self._admin)
        try:
            await admin.queue_delete(queue, timeout=10)
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            raise BusUnavailable(f"deleting {queue!r} failed: {exc!r}") from exc
        self._queues.pop(queue, None)

    def on_reconnect(self, callback: OnReconnect) -> None:
        self._reconnect_callbacks.append(callback)
