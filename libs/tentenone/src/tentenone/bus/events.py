"""Events on the wire: the envelope headers we write and read.

Body: the event's JSON (what a nameko handler receives). Headers: ``id``
(event id, a UUID), ``occurred_at`` (ISO 8601, UTC), ``correlation_id``,
``source``; ``x-tentenone-attempt`` on retried copies. The event id is also
the AMQP ``message_id`` and the correlation id the AMQP ``correlation_id``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tentenone.bus.message import Delivery, Envelope, HeaderValue
from tentenone.errors import InvalidInput
from tentenone.logging import new_correlation_id

__all__ = [
    "ATTEMPT_HEADER",
    "ReceivedEvent",
    "attempt_of",
    "event_envelope",
    "event_id_of",
    "incoming_correlation_id",
    "parse_occurred_at",
    "republish_headers",
]

ATTEMPT_HEADER = "x-tentenone-attempt"
# Broker bookkeeping that must not travel with a copy we publish again.
_BROKER_HEADERS = frozenset(
    {
        "x-death",
        "x-first-death-reason",
        "x-first-death-queue",
        "x-first-death-exchange",
        "x-last-death-reason",
        "x-last-death-queue",
        "x-last-death-exchange",
        "x-delivery-count",
    }
)


@dataclass(frozen=True, slots=True)
class ReceivedEvent[P]:
    """An event handed to a handler: the decoded payload and its envelope."""

    payload: P
    event_id: str
    event_type: str
    source: str
    occurred_at: datetime
    correlation_id: str
    #: 1 for the first delivery to the handler, n for the n-th retry + 1
    attempt: int
    headers: Mapping[str, Any]


def event_envelope(
    *,
    source: str,
    body: bytes,
    event_id: str,
    occurred_at: datetime,
    correlation_id: str,
    headers: Mapping[str, HeaderValue] | None = None,
) -> Envelope:
    all_headers: dict[str, HeaderValue] = dict(headers or {})
    all_headers.update(
        {
            "id": event_id,
            "occurred_at": occurred_at.astimezone(UTC).isoformat(),
            "correlation_id": correlation_id,
            "source": source,
        }
    )
    return Envelope(
        body=body,
        headers=all_headers,
        message_id=event_id,
        correlation_id=correlation_id,
        persistent=True,
    )


def republish_headers(
    headers: Mapping[str, Any], extra: Mapping[str, HeaderValue]
) -> dict[str, Any]:
    """``headers`` without the broker's bookkeeping, plus ``extra``."""
    out = {k: v for k, v in headers.items() if k not in _BROKER_HEADERS}
    out.update(extra)
    return out


def attempt_of(delivery: Delivery) -> int:
    value = delivery.headers.get(ATTEMPT_HEADER)
    return value if isinstance(value, int) and value >= 1 else 1


def incoming_correlation_id(delivery: Delivery, *, use_property: bool) -> str:
    """The trace id of ``delivery``: our header, nameko's, the AMQP property, or a new one."""
    for key in ("correlation_id", "nameko.correlation_id"):
        value = delivery.headers.get(key)
        if isinstance(value, str) and value:
            return value
    if use_property and delivery.correlation_id:
        return delivery.correlation_id
    return new_correlation_id()


def parse_occurred_at(value: object) -> datetime:
    """The ``occurred_at`` header as an aware datetime; now when absent (nameko events)."""
    if value is None:
        return datetime.now(UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"occurred_at header {value!r} is not ISO 8601") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise InvalidInput(f"occurred_at header has type {type(value).__name__}, expected a string")


def event_id_of(delivery: Delivery) -> str:
    """The event id: header ``id``, else the message id, else a fresh one.

    Events published by nameko carry neither, so their redeliveries cannot be
    recognised: such events are at-least-once for our consumers.
    """
    value = delivery.headers.get("id")
    if isinstance(value, str) and value:
        return value
    if delivery.message_id:
        return delivery.message_id
    return str(uuid.uuid4())
