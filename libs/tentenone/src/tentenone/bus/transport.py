"""The small interface between the bus and a broker: RabbitMQ or the in-process one.

The bus's semantics (events, RPC, retries, dead letters) are written once on
top of it; each transport only moves messages like RabbitMQ does, so the
same contract tests run against both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from tentenone.bus.message import Delivery, Envelope

__all__ = [
    "ConsumerHandle",
    "ExchangeKind",
    "OnDelivery",
    "OnReconnect",
    "QueueKind",
    "QueueSpec",
    "Transport",
]

OnDelivery = Callable[[Delivery], Awaitable[None]]
OnReconnect = Callable[[], Awaitable[None]]


class ExchangeKind(StrEnum):
    TOPIC = "topic"
    DIRECT = "direct"


class QueueKind(StrEnum):
    QUORUM = "quorum"
    #: only where a feature needs it: exclusive reply queues, and RPC request
    #: queues, whose messages are transient (see ADR 0012)
    CLASSIC = "classic"


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    kind: QueueKind = QueueKind.QUORUM
    #: survives a broker restart (quorum queues always do)
    durable: bool = True
    exclusive: bool = False
    auto_delete: bool = False
    #: dead-letter target: exchange ("" = default) and routing key
    dead_letter_exchange: str | None = None
    dead_letter_routing_key: str | None = None
    #: redeliveries (nack + requeue, consumer lost) before dead-lettering
    delivery_limit: int | None = None


class ConsumerHandle(ABC):
    @abstractmethod
    async def cancel(self) -> None:
        """Stop deliveries; unacknowledged ones go back to the queue when the channel closes."""

    @abstractmethod
    async def close(self) -> None:
        """Cancel and release the consumer's channel (unacked messages are requeued)."""


class Transport(ABC):
    """Broker operations the bus needs. Every call is bounded by a timeout."""

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> None:
        """Raise ``BusUnavailable`` unless the broker answers now."""

    @abstractmethod
    async def declare_exchange(self, name: str, kind: ExchangeKind) -> None: ...

    @abstractmethod
    async def declare_queue(self, spec: QueueSpec) -> None: ...

    @abstractmethod
    async def bind(self, queue: str, exchange: str, routing_key: str) -> None: ...

    @abstractmethod
    async def publish(
        self, exchange: str, routing_key: str, envelope: Envelope, *, mandatory: bool = False
    ) -> None:
        """Publish and wait for the broker's confirm.

        Raises ``BusUnavailable`` when it is not confirmed, and
        ``UnknownService`` when ``mandatory`` and nothing is bound to the key.
        """

    @abstractmethod
    async def consume(
        self, queue: str, on_delivery: OnDelivery, prefetch: int, *, auto_ack: bool = False
    ) -> ConsumerHandle:
        """Deliver ``queue``'s messages in order, at most ``prefetch`` unacknowledged.

        ``auto_ack``: the broker forgets a message once sent (RPC replies only:
        a reply nobody waits for any more is worthless).
        """

    @abstractmethod
    async def get(self, queue: str) -> Delivery | None:
        """One message from ``queue`` without a consumer, or None when it is empty."""

    @abstractmethod
    async def queue_depth(self, queue: str) -> int: ...

    @abstractmethod
    async def delete_queue(self, queue: str) -> None: ...

    @abstractmethod
    def on_reconnect(self, callback: OnReconnect) -> None:
        """Call ``callback`` after the connection was lost and came back."""
