"""Messages as the bus sees them, independent of the transport under it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JSON_CONTENT_TYPE", "Delivery", "Envelope", "HeaderValue", "Headers"]

JSON_CONTENT_TYPE = "application/json"

HeaderValue = str | int | float | bool | None | list[Any] | dict[str, Any]
Headers = Mapping[str, HeaderValue]


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message to publish: body plus the AMQP properties the bus uses."""

    body: bytes
    headers: Headers = field(default_factory=dict)
    message_id: str | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    #: seconds after which the broker drops (or dead-letters) the message
    expiration_s: float | None = None
    persistent: bool = True
    content_type: str = JSON_CONTENT_TYPE
    content_encoding: str = "utf-8"


class Delivery(ABC):
    """A consumed message, acknowledged exactly once by ``ack`` or ``nack``."""

    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, Any]
    message_id: str | None
    correlation_id: str | None
    reply_to: str | None
    content_type: str | None
    redelivered: bool
    #: how many times the broker delivered it before (quorum queues count)
    delivery_count: int

    @abstractmethod
    async def ack(self, multiple: bool = False) -> None:
        """Acknowledge this message (and, with ``multiple``, every earlier unacked one
        of the same consumer)."""

    @abstractmethod
    async def nack(self, requeue: bool) -> None: ...
