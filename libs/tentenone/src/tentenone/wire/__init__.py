"""Pydantic models of everything on the bus (events, RPC payloads) and their registry.

Each area declares its models in ``tentenone.wire.<area>`` (e.g.
``tentenone.wire.orderbook``); ``docs/asyncapi.yaml`` is generated from them by
``python -m tentenone.wire.asyncapi``.
"""

from tentenone.wire.base import (
    REGISTRY,
    Event,
    RpcMethod,
    WireModel,
    WireRegistry,
    check_event_type,
    check_method_name,
    check_service_name,
)
from tentenone.wire.errors import (
    DuplicateWireName,
    InvalidWireName,
    MalformedMessage,
    UnknownEventType,
    UnknownRpcMethod,
)

__all__ = [
    "REGISTRY",
    "DuplicateWireName",
    "Event",
    "InvalidWireName",
    "MalformedMessage",
    "RpcMethod",
    "UnknownEventType",
    "UnknownRpcMethod",
    "WireModel",
    "WireRegistry",
    "check_event_type",
    "check_method_name",
    "check_service_name",
]
