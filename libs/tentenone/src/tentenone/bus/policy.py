"""Tunables of the bus: message size limit, timeouts, prefetch, retries and backoff."""

from __future__ import annotations

from dataclasses import dataclass

from tentenone.bus.transport import QueueKind
from tentenone.errors import InvalidInput

__all__ = ["BusLimits", "ConsumerPolicy"]


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidInput(f"{name} must be a positive number, got {value!r}")


@dataclass(frozen=True, slots=True)
class BusLimits:
    #: bodies above this are refused on publish and dead-lettered on receipt
    max_message_bytes: int = 1024 * 1024
    #: how long a publish waits for the broker's confirm
    publish_timeout_s: float = 10.0
    #: default timeout of an RPC call
    rpc_timeout_s: float = 10.0
    #: RPC requests a service handles at once
    rpc_concurrency: int = 32
    #: an RPC handler running longer than this fails the call
    rpc_handler_timeout_s: float = 30.0
    #: type of the event consumers' queues: quorum (replicated, counts deliveries);
    #: classic only on a single-node broker of development or tests (ADR 0018)
    queue_kind: QueueKind = QueueKind.QUORUM

    def __post_init__(self) -> None:
        for name in (
            "max_message_bytes",
            "publish_timeout_s",
            "rpc_timeout_s",
            "rpc_concurrency",
            "rpc_handler_timeout_s",
        ):
            _positive(name, getattr(self, name))
        if not isinstance(self.queue_kind, QueueKind):
            raise InvalidInput(f"queue_kind must be a QueueKind, got {self.queue_kind!r}")


@dataclass(frozen=True, slots=True)
class ConsumerPolicy:
    """How one event consumer fetches, retries and gives up."""

    #: unacknowledged messages the broker may push to this consumer
    prefetch: int = 128
    #: messages handed to a batch handler at once (one DB transaction)
    batch_size: int = 64
    #: how long a batch waits for more messages when fewer than batch_size are in hand
    batch_linger_s: float = 0.01
    #: handler attempts before the message goes to the dead-letter queue
    max_attempts: int = 5
    #: delay before attempt n+1 is backoff_base_s * 2**(n-1), capped
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    #: redeliveries without an outcome (consumer crashed) before dead-lettering
    delivery_limit: int = 20
    #: a handler running longer than this counts as a failed attempt
    handler_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        for name in (
            "prefetch",
            "batch_size",
            "batch_linger_s",
            "max_attempts",
            "backoff_base_s",
            "backoff_max_s",
            "delivery_limit",
            "handler_timeout_s",
        ):
            _positive(name, getattr(self, name))

    def backoff_s(self, attempt: int) -> float:
        """Delay before retrying a message whose attempt number ``attempt`` failed."""
        return float(min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, attempt - 1)))
