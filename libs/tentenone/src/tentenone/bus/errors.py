"""Errors of the bus, all in the ``tentenone.errors`` hierarchy with stable codes."""

from __future__ import annotations

from tentenone.errors import InvalidInput, NotFound, ProtocolError, Unavailable

__all__ = [
    "BusUnavailable",
    "MalformedReply",
    "MessageTooLarge",
    "MethodNotFound",
    "RpcTimeout",
    "UnknownService",
]


class BusUnavailable(Unavailable):
    """The broker cannot be reached, refused a message, or the bus is closed."""

    code = "bus_unavailable"


class RpcTimeout(Unavailable):
    """No reply arrived within the call's timeout."""

    code = "rpc_timeout"
    http_status = 504


class MalformedReply(ProtocolError):
    """An RPC reply that is not ``{"result": ..., "error": null | {...}}`` or not the model."""

    code = "malformed_reply"
    http_status = 502


class MessageTooLarge(InvalidInput):
    """A message body above the bus's size limit; nothing was sent."""

    code = "message_too_large"
    http_status = 413


class UnknownService(NotFound):
    """No queue is bound for an RPC's routing key: no such service is running."""

    code = "unknown_service"


class MethodNotFound(NotFound):
    """The service is running but has no RPC method of that name."""

    code = "method_not_found"
