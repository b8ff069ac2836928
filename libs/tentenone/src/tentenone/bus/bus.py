"""The bus a service holds: publish events, consume them, serve and call RPC.

One ``Bus`` per service, on a ``Transport``: RabbitMQ (``AmqpTransport``) or
the in-process broker of the embedded default (``MemoryTransport``); the
semantics are the same. Services normally publish through the outbox
(``tentenone.bus.relay``) rather than ``publish`` directly, so that the event
commits with the state change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tentenone.bus.amqp import AmqpTransport
from tentenone.bus.errors import BusUnavailable, MalformedReply, MessageTooLarge
from tentenone.bus.events import (
    ReceivedEvent,
    attempt_of,
    event_envelope,
    event_id_of,
    incoming_correlation_id,
    parse_occurred_at,
)
from tentenone.bus.memory import MemoryBroker, MemoryTransport
from tentenone.bus.message import Delivery, HeaderValue
from tentenone.bus.naming import Names
from tentenone.bus.policy import BusLimits, ConsumerPolicy
from tentenone.bus.rpc import GroupHandler, RpcCall, RpcClient, RpcHandler, RpcServer
from tentenone.bus.subscription import (
    ERROR_CODE_HEADER,
    ERROR_HEADER,
    BatchHandler,
    DeadLetter,
    Handler,
    Subscription,
)
from tentenone.bus.transport import ExchangeKind, Transport
from tentenone.errors import InvalidInput
from tentenone.logging import get_correlation_id, new_correlation_id
from tentenone.metrics import MESSAGES
from tentenone.wire.base import (
    REGISTRY,
    Event,
    RpcMethod,
    WireModel,
    check_event_type,
    check_method_name,
    check_service_name,
)
from tentenone.wire.errors import MalformedMessage

__all__ = ["Bus", "RawPayload", "TypedRpcHandler"]

_log = logging.getLogger(__name__)

type RawPayload = Any
type TypedRpcHandler[Req: WireModel, Resp: WireModel] = Callable[[Req, RpcCall], Awaitable[Resp]]


def _check_event_id(event_id: object) -> str:
    try:
        return str(uuid.UUID(str(event_id))) if event_id is not None else str(uuid.uuid4())
    except ValueError:
        raise InvalidInput(f"event id {event_id!r} is not a UUID") from None


def _check_time(value: object) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(f"occurred_at must be a timezone-aware datetime, got {value!r}")
    return value


def _check_timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidInput(f"timeout must be a positive number of seconds, got {value!r}")
    return float(value)


class Bus:
    def __init__(
        self,
        transport: Transport,
        service: str,
        *,
        names: Names | None = None,
        limits: BusLimits | None = None,
    ) -> None:
        self.service = check_service_name(service)
        self.transport = transport
        self.names = names or Names()
        self.limits = limits or BusLimits()
        self._server = RpcServer(transport, self.names, self.service, self.limits)
        self._client = RpcClient(transport, self.names, self.service, self.limits)
        self._subscriptions: list[Subscription[Any]] = []
        self._declared: set[str] = set()
        self._declare_lock = asyncio.Lock()
        self._started = False
        self._serving = False
        self._published = MESSAGES.labels(self.service, "published", "event", "ok")

    @classmethod
    def for_url(
        cls,
        service: str,
        amqp_url: str | None,
        *,
        broker: MemoryBroker | None = None,
        prefix: str = "",
        limits: BusLimits | None = None,
    ) -> Bus:
        """RabbitMQ at ``amqp_url``, or the in-process ``broker`` when the URL is None."""
        limits = limits or BusLimits()
        transport: Transport
        if amqp_url:
            transport = AmqpTransport(
                amqp_url, connection_name=service, publish_timeout_s=limits.publish_timeout_s
            )
        else:
            transport = MemoryTransport(broker or MemoryBroker())
        return cls(transport, service, names=Names(prefix), limits=limits)

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        await self.transport.connect()
        self._started = True
        if self._server.methods:
            await self._start_serving()

    async def stop_consuming(self, grace_s: float = 10.0) -> None:
        """Take no more messages; let handlers in flight finish (up to ``grace_s``).

        Publishing and calling still work, so the outbox can be flushed after.
        """
        subs, self._subscriptions = self._subscriptions, []
        await asyncio.gather(*(sub.stop(grace_s) for sub in subs))
        if self._serving:
            self._serving = False
            await self._server.stop(grace_s)

    async def close(self, grace_s: float = 10.0) -> None:
        """Stop consuming (see ``stop_consuming``), then disconnect."""
        if not self._started:
            return
        await self.stop_consuming(grace_s)
        await self._client.stop()
        await self.transport.close()
        self._started = False

    async def ping(self) -> None:
        if not self._started:
            raise BusUnavailable("the bus is not started")
        await self.transport.ping()

    def _check_started(self) -> None:
        if not self._started:
            raise BusUnavailable("the bus is not started")

    # -- events ------------------------------------------------------------

    async def publish(
        self,
        event: Event,
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        correlation_id: str | None = None,
    ) -> str:
        """Publish ``event`` now (confirmed); its id. Prefer the outbox in services."""
        if not isinstance(event, Event):
            raise InvalidInput(f"publish takes an Event, got {type(event).__name__}")
        REGISTRY.event_class(getattr(event, "event_type", None))  # type: ignore[arg-type]
        eid = _check_event_id(event_id)
        await self.publish_raw(
            event.source,
            event.event_type,
            event.to_json_bytes(),
            event_id=eid,
            occurred_at=occurred_at,
            correlation_id=correlation_id,
        )
        return eid

    async def publish_raw(
        self,
        source: str,
        event_type: str,
        body: bytes,
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        correlation_id: str | None = None,
        headers: Mapping[str, HeaderValue] | None = None,
    ) -> None:
        """Publish an already-encoded event body (what the outbox relay does)."""
        self._check_started()
        check_service_name(source)
        check_event_type(event_type)
        if not isinstance(body, bytes):
            raise InvalidInput(f"body must be bytes, got {type(body).__name__}")
        if len(body) > self.limits.max_message_bytes:
            raise MessageTooLarge(
                f"event {event_type} of {len(body)} bytes is above the limit of "
                f"{self.limits.max_message_bytes}"
            )
        await self.publish_checked(
            source,
            event_type,
            body,
            event_id=_check_event_id(event_id),
            occurred_at=_check_time(occurred_at),
            correlation_id=correlation_id,
            headers=headers,
        )

    async def publish_checked(
        self,
        source: str,
        event_type: str,
        body: bytes,
        *,
        event_id: str,
        occurred_at: datetime,
        correlation_id: str | None,
        headers: Mapping[str, HeaderValue] | None,
    ) -> None:
        """``publish_raw`` for input checked already (the outbox relay's rows)."""
        self._check_started()
        exchange = self.names.events_exchange(source)
        await self._declare_exchange(exchange)
        envelope = event_envelope(
            source=source,
            body=body,
            event_id=event_id,
            occurred_at=occurred_at,
            correlation_id=correlation_id or get_correlation_id() or new_correlation_id(),
            headers=headers,
        )
        await self.transport.publish(exchange, event_type, envelope)
        self._published.inc()

    async def _declare_exchange(self, exchange: str) -> None:
        if exchange in self._declared:
            return
        # One declaration, however many publishes (a relay batch) arrive at once.
        async with self._declare_lock:
            if exchange not in self._declared:
                await self.transport.declare_exchange(exchange, ExchangeKind.TOPIC)
                self._declared.add(exchange)

    async def subscribe[E: Event](
        self,
        event_cls: type[E],
        handler: Handler[E],
        *,
        name: str,
        policy: ConsumerPolicy | None = None,
        batch_handler: BatchHandler[E] | None = None,
    ) -> Subscription[E]:
        """Consume ``event_cls`` events with ``handler`` from this service's queue ``name``."""
        if not (isinstance(event_cls, type) and issubclass(event_cls, Event)):
            raise InvalidInput(f"subscribe takes an Event class, got {event_cls!r}")
        event_type = getattr(event_cls, "event_type", None)
        REGISTRY.event_class(event_type)  # type: ignore[arg-type]
        source = event_cls.source

        def decode(delivery: Delivery) -> ReceivedEvent[E]:
            payload = event_cls.from_json_bytes(delivery.body)
            return _received(delivery, payload, source, event_cls.event_type)

        return await self._subscribe(
            source, event_cls.event_type, name, decode, handler, batch_handler, policy
        )

    async def subscribe_raw(
        self,
        source: str,
        event_type: str,
        handler: Handler[RawPayload],
        *,
        name: str,
        policy: ConsumerPolicy | None = None,
    ) -> Subscription[RawPayload]:
        """Consume events of any publisher (e.g. a nameko service) as decoded JSON."""
        check_service_name(source)
        check_event_type(event_type)

        def decode(delivery: Delivery) -> ReceivedEvent[RawPayload]:
            try:
                payload = json.loads(delivery.body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise MalformedMessage(f"event body is not JSON: {exc}") from exc
            return _received(delivery, payload, source, event_type)

        return await self._subscribe(source, event_type, name, decode, handler, None, policy)

    async def _subscribe[P](
        self,
        source: str,
        event_type: str,
        name: str,
        decoder: Callable[[Delivery], ReceivedEvent[P]],
        handler: Handler[P],
        batch_handler: BatchHandler[P] | None,
        policy: ConsumerPolicy | None,
    ) -> Subscription[P]:
        self._check_started()
        check_method_name(name)
        if not callable(handler):
            raise InvalidInput(f"handler must be callable, got {handler!r}")
        queue = self.names.event_queue(source, event_type, self.service, name)
        if any(s.queue == queue for s in self._subscriptions):
            raise InvalidInput(f"{self.service} already consumes {event_type} as {name!r}")
        sub = Subscription(
            transport=self.transport,
            service=self.service,
            exchange=self.names.events_exchange(source),
            event_type=event_type,
            queue=queue,
            decoder=decoder,
            handler=handler,
            batch_handler=batch_handler,
            policy=policy or ConsumerPolicy(),
            max_message_bytes=self.limits.max_message_bytes,
            queue_kind=self.limits.queue_kind,
        )
        await sub.start()
        self._subscriptions.append(sub)
        return sub

    # -- RPC ---------------------------------------------------------------

    async def serve(self, method: str, handler: RpcHandler) -> None:
        """Serve ``<service>.<method>``: ``handler`` gets the call, returns a JSON value."""
        check_method_name(method)
        if not callable(handler):
            raise InvalidInput(f"handler must be callable, got {handler!r}")
        try:
            self._server.add(method, handler)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        if self._started:
            await self._start_serving()

    async def serve_grouped(self, method: str, handler: GroupHandler, *, max_size: int) -> None:
        """Serve ``<service>.<method>`` with a handler of several calls at once.

        The calls that arrive while a group is being handled wait and are
        handed over together next (up to ``max_size``); see
        ``tentenone.bus.transactional`` for one transaction per group.
        """
        check_method_name(method)
        if not callable(handler):
            raise InvalidInput(f"handler must be callable, got {handler!r}")
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= 0:
            raise InvalidInput(f"max_size must be a positive integer, got {max_size!r}")
        try:
            self._server.add_group(method, handler, max_size)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        if self._started:
            await self._start_serving()

    async def serve_typed[Req: WireModel, Resp: WireModel](
        self, spec: RpcMethod[Req, Resp], handler: TypedRpcHandler[Req, Resp]
    ) -> None:
        """Serve a declared method: kwargs parsed as ``spec.request``, result ``spec.response``."""
        if not isinstance(spec, RpcMethod):
            raise InvalidInput(f"serve_typed takes an RpcMethod, got {spec!r}")
        if spec.service != self.service:
            raise InvalidInput(f"{spec.routing_key} belongs to {spec.service}, not {self.service}")

        async def typed(call: RpcCall) -> Any:
            if call.args:
                raise MalformedMessage(f"{spec.routing_key} takes keyword arguments only")
            response = await handler(spec.request.from_data(call.kwargs), call)
            if not isinstance(response, spec.response):
                raise TypeError(
                    f"{spec.routing_key} returned {type(response).__name__}, "
                    f"not {spec.response.__name__}"
                )
            return response.model_dump(mode="json")

        await self.serve(spec.name, typed)

    async def _start_serving(self) -> None:
        if not self._serving:
            self._serving = True
            await self._server.start()

    async def call(
        self,
        service: str,
        method: str,
        *,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Call ``<service>.<method>`` with JSON arguments; its JSON result."""
        self._check_started()
        check_service_name(service)
        check_method_name(method)
        if isinstance(args, str | bytes) or not isinstance(args, Sequence):
            raise InvalidInput(f"args must be a list, got {type(args).__name__}")
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise InvalidInput(f"kwargs must be a mapping, got {type(kwargs).__name__}")
        t = _check_timeout(self.limits.rpc_timeout_s if timeout_s is None else timeout_s)
        return await self._client.call(service, method, list(args), dict(kwargs or {}), t)

    async def request[Req: WireModel, Resp: WireModel](
        self, spec: RpcMethod[Req, Resp], request: Req, *, timeout_s: float | None = None
    ) -> Resp:
        """Call a declared method with its request model; the reply as its response model."""
        if not isinstance(spec, RpcMethod):
            raise InvalidInput(f"request takes an RpcMethod, got {spec!r}")
        if not isinstance(request, spec.request):
            raise InvalidInput(
                f"{spec.routing_key} takes a {spec.request.__name__}, got {type(request).__name__}"
            )
        result = await self.call(
            spec.service, spec.name, kwargs=request.model_dump(mode="json"), timeout_s=timeout_s
        )
        try:
            return spec.response.from_data(result)
        except MalformedMessage as exc:
            raise MalformedReply(f"{spec.routing_key} replied: {exc.message}") from None

    # -- operations --------------------------------------------------------

    async def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """A look at up to ``limit`` messages of ``queue``'s DLQ; they stay there."""
        self._check_started()
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise InvalidInput(f"limit must be a positive integer, got {limit!r}")
        dlq = Names.dead_letter_queue(queue)
        taken: list[Delivery] = []
        try:
            while len(taken) < limit:
                delivery = await self.transport.get(dlq)
                if delivery is None:
                    break
                taken.append(delivery)
        finally:
            for delivery in reversed(taken):
                await delivery.nack(requeue=True)
        return [_dead_letter(d) for d in taken]

    @property
    def consumer_queues(self) -> list[str]:
        """The queues this bus consumes events from."""
        return [s.queue for s in self._subscriptions]

    async def queue_depth(self, queue: str) -> int:
        self._check_started()
        return await self.transport.queue_depth(queue)


def _received[P](delivery: Delivery, payload: P, source: str, event_type: str) -> ReceivedEvent[P]:
    return ReceivedEvent(
        payload=payload,
        event_id=event_id_of(delivery),
        event_type=event_type,
        source=source,
        occurred_at=parse_occurred_at(delivery.headers.get("occurred_at")),
        correlation_id=incoming_correlation_id(delivery, use_property=True),
        attempt=attempt_of(delivery),
        headers=delivery.headers,
    )


def _dead_letter(delivery: Delivery) -> DeadLetter:
    code = delivery.headers.get(ERROR_CODE_HEADER)
    error = delivery.headers.get(ERROR_HEADER)
    if code is None and "x-first-death-reason" in delivery.headers:
        # Dead-lettered by the broker itself (delivery limit): no handler verdict.
        code = f"broker_{delivery.headers['x-first-death-reason']}"
    return DeadLetter(
        body=delivery.body,
        headers=dict(delivery.headers),
        message_id=delivery.message_id,
        error_code=code if isinstance(code, str) else None,
        error=error if isinstance(error, str) else None,
        attempts=attempt_of(delivery),
    )
