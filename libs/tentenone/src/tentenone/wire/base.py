"""Base classes of every bus message: events and RPC payloads, and their registry.

An event is a frozen pydantic model whose class names its ``event_type`` (the
AMQP routing key, e.g. ``order.accepted``) and ``source`` (the service whose
``<source>.events`` exchange carries it). Its fields are the JSON body; the
envelope (event id, ``occurred_at``, correlation id) travels in AMQP headers,
as nameko does, so a nameko handler receives exactly the body.

An RPC method pairs a request model (sent as nameko ``kwargs``) with a
response model (nameko ``result``). Declaring either registers it, and the
registry is what ``docs/asyncapi.yaml`` is generated from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from tentenone.wire.errors import (
    DuplicateWireName,
    InvalidWireName,
    MalformedMessage,
    UnknownEventType,
    UnknownRpcMethod,
)

__all__ = [
    "REGISTRY",
    "Event",
    "RpcMethod",
    "WireModel",
    "WireRegistry",
    "check_event_type",
    "check_method_name",
    "check_service_name",
]

# Routing keys of topic exchanges are at most 255 bytes and must not contain
# the wildcard words ``*`` / ``#``; we also keep them to one readable alphabet.
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_SERVICE = re.compile(r"^[a-z][a-z0-9_-]*$")
_METHOD = re.compile(r"^[a-z_][a-z0-9_]*$")
_MAX_NAME = 200


def _check(kind: str, value: object, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str):
        raise InvalidWireName(f"{kind} must be a string, got {type(value).__name__}")
    if len(value) > _MAX_NAME or not pattern.fullmatch(value):
        raise InvalidWireName(
            f"invalid {kind} {value!r}: expected {pattern.pattern}, at most {_MAX_NAME} chars"
        )
    return value


def check_event_type(value: object) -> str:
    """``value`` if it is a well-formed event type (dotted lower-case words)."""
    return _check("event type", value, _EVENT_TYPE)


def check_service_name(value: object) -> str:
    """``value`` if it is a well-formed service name (lower-case, ``-``/``_``)."""
    return _check("service name", value, _SERVICE)


def check_method_name(value: object) -> str:
    """``value`` if it is a well-formed RPC method name (a Python identifier)."""
    return _check("method name", value, _METHOD)


class WireModel(BaseModel):
    """Base of every payload on the bus: frozen, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json_bytes(cls, body: bytes) -> Self:
        """Parse ``body``; a body that is not this model raises ``MalformedMessage``."""
        try:
            return cls.model_validate_json(body)
        except ValidationError as exc:
            raise MalformedMessage(
                f"body is not a valid {cls.__name__}: {_summary(exc)}", model=cls.__name__
            ) from exc

    @classmethod
    def from_data(cls, data: Any) -> Self:
        """Validate already-decoded JSON data (e.g. RPC ``kwargs``)."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise MalformedMessage(
                f"not a valid {cls.__name__}: {_summary(exc)}", model=cls.__name__
            ) from exc


def _summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "<body>"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


class Event(WireModel):
    """A domain event. Subclasses set ``event_type`` and ``source`` as class variables."""

    event_type: ClassVar[str]
    source: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "event_type" in cls.__dict__:
            check_event_type(cls.event_type)
            check_service_name(getattr(cls, "source", None))
            REGISTRY.register_event(cls)


@dataclass(frozen=True)
class RpcMethod[ReqT: WireModel, RespT: WireModel]:
    """An RPC method of ``service``: request sent as kwargs, response as the result."""

    service: str
    name: str
    request: type[ReqT]
    response: type[RespT]
    summary: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        check_service_name(self.service)
        check_method_name(self.name)
        for role, model in (("request", self.request), ("response", self.response)):
            if not (isinstance(model, type) and issubclass(model, WireModel)):
                raise DuplicateWireName(f"{self.routing_key}: {role} must be a WireModel class")
        REGISTRY.register_rpc(self)

    @property
    def routing_key(self) -> str:
        return f"{self.service}.{self.name}"


def _origin(obj: type | RpcMethod[Any, Any]) -> str:
    if isinstance(obj, RpcMethod):
        return f"{obj.request.__module__}.{obj.request.__qualname__}"
    return f"{obj.__module__}.{obj.__qualname__}"


class WireRegistry:
    """Every event type and RPC method declared in this process."""

    def __init__(self) -> None:
        self._events: dict[str, type[Event]] = {}
        self._rpc: dict[str, RpcMethod[Any, Any]] = {}

    def register_event(self, cls: type[Event]) -> None:
        known = self._events.get(cls.event_type)
        # Re-importing the same module (e.g. a test collecting twice) is not a clash.
        if known is not None and _origin(known) != _origin(cls):
            raise DuplicateWireName(
                f"event type {cls.event_type!r} is declared by both {_origin(known)} "
                f"and {_origin(cls)}"
            )
        self._events[cls.event_type] = cls

    def register_rpc(self, spec: RpcMethod[Any, Any]) -> None:
        known = self._rpc.get(spec.routing_key)
        if known is not None and known != spec:
            raise DuplicateWireName(f"RPC method {spec.routing_key!r} is declared twice")
        self._rpc[spec.routing_key] = spec

    def event_class(self, event_type: str) -> type[Event]:
        try:
            return self._events[event_type]
        except (KeyError, TypeError):
            raise UnknownEventType(
                f"no event model is registered for event type {event_type!r}"
            ) from None

    def rpc_method(self, service: str, name: str) -> RpcMethod[Any, Any]:
        try:
            return self._rpc[f"{service}.{name}"]
        except KeyError:
            raise UnknownRpcMethod(f"no RPC method {service}.{name} is registered") from None

    def events(self) -> list[type[Event]]:
        return [self._events[k] for k in sorted(self._events)]

    def rpc_methods(self) -> list[RpcMethod[Any, Any]]:
        return [self._rpc[k] for k in sorted(self._rpc)]


REGISTRY = WireRegistry()
