"""Generate ``docs/asyncapi.yaml`` (AsyncAPI 3.0) from the wire registry.

``python -m tentenone.wire.asyncapi`` writes the file; ``--check`` exits 1
when the file on disk differs from what the models say (CI and a test run
it). Every module under ``tentenone.wire`` is imported first, so a model
added there appears without touching this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

import tentenone
from tentenone import wire
from tentenone.bus.naming import RPC_EXCHANGE as _RPC_EXCHANGE
from tentenone.wire.base import REGISTRY, Event, RpcMethod, WireModel, WireRegistry

__all__ = [
    "DEFAULT_PATH",
    "add_extensions",
    "build_document",
    "load_wire_modules",
    "main",
    "render",
]

DEFAULT_PATH = Path("docs/asyncapi.yaml")
_INFRA_MODULES = frozenset({"asyncapi", "base", "errors"})
_REF = "#/components/schemas/{model}"


def load_wire_modules() -> list[str]:
    """Import every ``tentenone.wire.<area>`` module; their names, sorted."""
    names = sorted(
        m.name for m in pkgutil.iter_modules(wire.__path__) if m.name not in _INFRA_MODULES
    )
    for name in names:
        importlib.import_module(f"tentenone.wire.{name}")
    return names


def _published(model: type[WireModel]) -> bool:
    # Models declared elsewhere (tests, scratch code) are not part of the contract.
    return model.__module__.startswith("tentenone.wire.")


def _channel_id(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", "-".join(parts))


def _amqp_exchange(name: str) -> dict[str, Any]:
    return {
        "amqp": {
            "is": "routingKey",
            "exchange": {"name": name, "type": "topic", "durable": True, "autoDelete": False},
            "bindingVersion": "0.3.0",
        }
    }


def _common_schemas() -> dict[str, Any]:
    return {
        "EventHeaders": {
            "type": "object",
            "description": "AMQP headers of every event (nameko conventions).",
            "required": ["id", "occurred_at"],
            "properties": {
                "id": {"type": "string", "format": "uuid", "description": "event id"},
                "occurred_at": {"type": "string", "format": "date-time"},
                "correlation_id": {"type": "string"},
                "source": {"type": "string", "description": "publishing service"},
            },
        },
        "RpcError": {
            "type": "object",
            "description": "nameko error shape, plus the stable tentenone error code.",
            "required": ["exc_type", "value"],
            "properties": {
                "exc_type": {"type": "string"},
                "exc_path": {"type": "string"},
                "exc_args": {"type": "array"},
                "value": {"type": "string"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
                "http_status": {"type": "integer", "description": "HTTP status of the error"},
            },
        },
    }


_Refs = dict[type[WireModel], dict[str, Any]]


def _model_schemas(models: list[type[WireModel]]) -> tuple[_Refs, dict[str, Any]]:
    """The ``$ref`` of each model, and the schemas they point to."""
    unique = sorted(set(models), key=lambda m: (m.__module__, m.__qualname__))
    keyed, top = models_json_schema([(m, "validation") for m in unique], ref_template=_REF)
    refs: _Refs = {}
    for (model, _mode), schema in keyed.items():
        assert isinstance(model, type) and issubclass(model, WireModel)
        refs[model] = dict(schema)
    defs: dict[str, Any] = top.get("$defs", {})
    return refs, defs


def _event_parts(
    events: list[type[Event]], refs: _Refs
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for cls in events:
        exchange = f"{cls.source}.events"
        cid = _channel_id(exchange, cls.event_type)
        mid = _channel_id(cls.event_type)
        messages[mid] = {
            "name": cls.event_type,
            "title": cls.__name__,
            "summary": (cls.__doc__ or "").strip().split("\n")[0],
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/EventHeaders"},
            "payload": refs[cls],
        }
        channels[cid] = {
            "address": cls.event_type,
            "description": f"events of type {cls.event_type} on exchange {exchange}",
            "messages": {mid: {"$ref": f"#/components/messages/{mid}"}},
            "bindings": _amqp_exchange(exchange),
        }
        operations[_channel_id(cls.source, "publishes", cls.event_type)] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [{"$ref": f"#/channels/{cid}/messages/{mid}"}],
        }
    return channels, operations, messages


def _rpc_parts(
    methods: list[RpcMethod[Any, Any]], refs: _Refs
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    if methods:
        channels["rpc_reply"] = {
            "address": None,
            "description": "the caller's reply queue, named by the reply_to property",
            "bindings": _amqp_exchange(_RPC_EXCHANGE),
        }
    for spec in methods:
        cid = _channel_id("rpc", spec.routing_key)
        req_id, rep_id = (
            _channel_id(spec.routing_key, "request"),
            _channel_id(spec.routing_key, "reply"),
        )
        messages[req_id] = {
            "name": f"{spec.routing_key} request",
            "contentType": "application/json",
            "correlationId": {"location": "$message.header#/correlation_id"},
            "payload": {
                "type": "object",
                "required": ["args", "kwargs"],
                "properties": {
                    "args": {"type": "array", "maxItems": 0},
                    "kwargs": refs[spec.request],
                },
            },
        }
        messages[rep_id] = {
            "name": f"{spec.routing_key} reply",
            "contentType": "application/json",
            "payload": {
                "type": "object",
                "required": ["result", "error"],
                "properties": {
                    "result": {
                        "oneOf": [
                            refs[spec.response],
                            {"type": "null"},
                        ]
                    },
                    "error": {
                        "oneOf": [{"$ref": "#/components/schemas/RpcError"}, {"type": "null"}]
                    },
                },
            },
        }
        channels[cid] = {
            "address": spec.routing_key,
            "description": f"requests to {spec.routing_key} on exchange {_RPC_EXCHANGE}",
            "messages": {req_id: {"$ref": f"#/components/messages/{req_id}"}},
            "bindings": _amqp_exchange(_RPC_EXCHANGE),
        }
        channels["rpc_reply"].setdefault("messages", {})[rep_id] = {
            "$ref": f"#/components/messages/{rep_id}"
        }
        operations[_channel_id(spec.service, "serves", spec.name)] = {
            "action": "receive",
            "summary": spec.summary,
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [{"$ref": f"#/channels/{cid}/messages/{req_id}"}],
            "reply": {
                "channel": {"$ref": "#/channels/rpc_reply"},
                "messages": [{"$ref": f"#/channels/rpc_reply/messages/{rep_id}"}],
            },
        }
    return channels, operations, messages


def build_document(
    registry: WireRegistry = REGISTRY,
    include: Callable[[type[WireModel]], bool] = _published,
) -> dict[str, Any]:
    """The AsyncAPI document of the registry's events and RPC methods that ``include``."""
    events = [e for e in registry.events() if include(e)]
    methods = [m for m in registry.rpc_methods() if include(m.request)]
    models: list[type[WireModel]] = [*events]
    for m in methods:
        models += [m.request, m.response]
    refs, schemas = _model_schemas(models)
    ev_channels, ev_ops, ev_msgs = _event_parts(events, refs)
    rpc_channels, rpc_ops, rpc_msgs = _rpc_parts(methods, refs)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "tentenone bus",
            "version": tentenone.__version__,
            "description": (
                "Events and RPC between tentenone services over RabbitMQ, nameko-compatible: "
                "events on the topic exchange <source>.events with the event type as routing "
                "key; RPC on the topic exchange nameko-rpc with routing key <service>.<method>. "
                "Generated by `python -m tentenone.wire.asyncapi`; do not edit."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {"host": "rabbitmq:5672", "protocol": "amqp", "protocolVersion": "0.9.1"}
        },
        "channels": {**ev_channels, **rpc_channels},
        "operations": {**ev_ops, **rpc_ops},
        "components": {
            "messages": {**ev_msgs, **rpc_msgs},
            "schemas": {**_common_schemas(), **schemas},
        },
    }


def add_extensions(doc: dict[str, Any], modules: list[str]) -> dict[str, Any]:
    """Merge what wire modules describe beyond the bus (``asyncapi_extension()``: servers,
    channels, operations, messages, schemas), e.g. the gateway's WebSocket."""
    for name in modules:
        extend = getattr(
            importlib.import_module(f"tentenone.wire.{name}"), "asyncapi_extension", None
        )
        if extend is None:
            continue
        part = extend()
        if part.get("servers"):
            # Bus channels then name their server: they are not on the new ones.
            for channel in doc["channels"].values():
                channel.setdefault("servers", [{"$ref": "#/servers/rabbitmq"}])
        for key, target in (
            ("servers", doc["servers"]),
            ("channels", doc["channels"]),
            ("operations", doc["operations"]),
            ("messages", doc["components"]["messages"]),
            ("schemas", doc["components"]["schemas"]),
        ):
            for item, value in part.get(key, {}).items():
                if item in target and target[item] != value:
                    raise ValueError(f"tentenone.wire.{name} redefines {key} {item!r}")
                target[item] = value
    return doc


def render(registry: WireRegistry = REGISTRY) -> str:
    modules = load_wire_modules()
    header = "# Generated by `python -m tentenone.wire.asyncapi`. Do not edit by hand.\n"
    doc = add_extensions(build_document(registry), modules)
    return header + yaml.safe_dump(doc, sort_keys=False, width=100, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tentenone.wire.asyncapi")
    parser.add_argument("--output", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python -m tentenone.wire.asyncapi", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
