"""Errors raised while declaring, encoding or decoding wire models."""

from __future__ import annotations

from tentenone.errors import ConfigError, InvalidInput

__all__ = [
    "DuplicateWireName",
    "InvalidWireName",
    "MalformedMessage",
    "UnknownEventType",
    "UnknownRpcMethod",
]


class InvalidWireName(InvalidInput):
    """A malformed event type, service name or method name."""

    code = "invalid_wire_name"


class UnknownEventType(InvalidInput):
    """An event type no model is registered for."""

    code = "unknown_event_type"


class UnknownRpcMethod(InvalidInput):
    """An RPC method no request/response models are registered for."""

    code = "unknown_rpc_method"


class MalformedMessage(InvalidInput):
    """A message body that does not parse as its model (or as JSON at all)."""

    code = "malformed_message"


class DuplicateWireName(ConfigError):
    """Two different models claim the same event type or RPC method."""

    code = "duplicate_wire_name"
