"""The message bus: events, RPC, retries and dead letters on RabbitMQ or in-process.

Conventions (nameko-compatible) are in ``tentenone.bus.naming``; the
transport interface in ``tentenone.bus.transport``; the outbox relay and the
idempotent (inbox) consumer in ``tentenone.bus.relay`` and
``tentenone.bus.idempotent``.
"""

from tentenone.bus.amqp import AmqpTransport
from tentenone.bus.bus import Bus
from tentenone.bus.errors import (
    BusUnavailable,
    MalformedReply,
    MessageTooLarge,
    MethodNotFound,
    RpcTimeout,
    UnknownService,
)
from tentenone.bus.events import ReceivedEvent
from tentenone.bus.memory import MemoryBroker, MemoryTransport
from tentenone.bus.naming import RPC_EXCHANGE, Names
from tentenone.bus.policy import BusLimits, ConsumerPolicy
from tentenone.bus.rpc import RpcCall
from tentenone.bus.subscription import DeadLetter, Subscription
from tentenone.bus.transport import Transport

__all__ = [
    "RPC_EXCHANGE",
    "AmqpTransport",
    "Bus",
    "BusLimits",
    "BusUnavailable",
    "ConsumerPolicy",
    "DeadLetter",
    "MalformedReply",
    "MemoryBroker",
    "MemoryTransport",
    "MessageTooLarge",
    "MethodNotFound",
    "Names",
    "ReceivedEvent",
    "RpcCall",
    "RpcTimeout",
    "Subscription",
    "Transport",
    "UnknownService",
]
