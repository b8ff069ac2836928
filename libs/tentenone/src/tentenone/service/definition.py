"""Declaring a service: its name, settings, tables, migrations, RPC methods, consumers, routes.

A service module builds one ``Service`` and decorates its handlers::

    service = Service(
        "orderbook",
        settings=OrderbookSettings,          # a BaseServiceSettings subclass
        metadata=OrderbookTable.metadata,    # tentenone.store.service_registry()
        migrations="tentenone_orderbook",    # package shipping migrations/
    )

    @service.rpc(PLACE_ORDER)
    async def place_order(ctx: ServiceContext, req: PlaceOrder) -> OrderView: ...

    @service.consumer(TradeMatched)
    async def on_trade_matched(
        ctx: ServiceContext, session: AsyncSession, event: ReceivedEvent[TradeMatched]
    ) -> None: ...

    @service.background
    async def expire_orders(ctx: ServiceContext) -> None: ...

    service.include_router(api.router)
    service.configure_app(add_middleware)   # middleware, exception handlers, OpenAPI
    service.probe("redis")(ping_redis)      # one more /readyz check

and exposes it to ``tentenone demo`` through the ``tentenone.services`` entry
point group, and as a process through a console script::

    [project.entry-points."tentenone.services"]
    orderbook = "tentenone_orderbook.service:service"
    [project.scripts]
    tentenone-orderbook = "tentenone_orderbook.service:service.main"
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI
from sqlalchemy import MetaData
from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.bus.events import ReceivedEvent
from tentenone.bus.policy import ConsumerPolicy
from tentenone.config import BaseServiceSettings
from tentenone.errors import ConfigError
from tentenone.store.migrations import migrations_dir
from tentenone.wire.base import (
    REGISTRY,
    Event,
    RpcMethod,
    WireModel,
    check_event_type,
    check_method_name,
    check_service_name,
)

if TYPE_CHECKING:
    from tentenone.service.context import ServiceContext

__all__ = [
    "AppHook",
    "BackgroundTask",
    "ConsumerHandler",
    "Hook",
    "Probe",
    "RpcMethodHandler",
    "Service",
]

type RpcMethodHandler[Req: WireModel, Resp: WireModel] = Callable[
    [ServiceContext, Req], Awaitable[Resp]
]
type ConsumerHandler[P] = Callable[
    [ServiceContext, AsyncSession, ReceivedEvent[P]], Awaitable[None]
]
type BackgroundTask = Callable[[ServiceContext], Awaitable[None]]
type Hook = Callable[[ServiceContext], Awaitable[None]]
type AppHook = Callable[[FastAPI, BaseServiceSettings], None]
type Probe = Callable[[ServiceContext], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class RpcEntry:
    spec: RpcMethod[Any, Any]
    handler: RpcMethodHandler[Any, Any]


@dataclass(frozen=True, slots=True)
class ConsumerEntry:
    name: str
    source: str
    event_type: str
    #: the event model, or None for a raw (JSON) consumer of a foreign publisher
    event_cls: type[Event] | None
    handler: ConsumerHandler[Any]
    policy: ConsumerPolicy


@dataclass(frozen=True, slots=True)
class BackgroundEntry:
    name: str
    fn: BackgroundTask


def _settings_for(name: str) -> type[BaseServiceSettings]:
    title = "".join(part.capitalize() for part in name.replace("_", "-").split("-"))
    return type(f"{title}Settings", (BaseServiceSettings,), {"service_name": name})


class Service:
    def __init__(
        self,
        name: str,
        *,
        settings: type[BaseServiceSettings] | None = None,
        metadata: MetaData | None = None,
        migrations: str | Path | None = None,
        description: str = "",
        demo_settings: Callable[[Path], Mapping[str, Any]] | None = None,
        http_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = check_service_name(name)
        if settings is None:
            settings = _settings_for(name)
        if not (isinstance(settings, type) and issubclass(settings, BaseServiceSettings)):
            raise ConfigError(f"settings of {name} must be a BaseServiceSettings subclass")
        if settings.service_name != name:
            raise ConfigError(
                f"{settings.__name__}.service_name is {settings.service_name!r}, not {name!r}"
            )
        if migrations is not None and not isinstance(migrations, str | Path):
            raise ConfigError("migrations must be a package name or a folder path")
        self.settings_cls = settings
        self.metadata = metadata
        self.migrations = migrations
        self.description = description
        #: settings for ``tentenone demo`` given its data dir, where the environment sets none
        self.demo_settings = demo_settings
        #: extra ``uvicorn.Config`` options of this service's HTTP server (e.g. ws_max_size)
        self.http_options: dict[str, Any] = dict(http_options or {})
        self.rpc_entries: list[RpcEntry] = []
        self.consumers: list[ConsumerEntry] = []
        self.background_tasks: list[BackgroundEntry] = []
        self.routers: list[tuple[APIRouter, dict[str, Any]]] = []
        self.startup_hooks: list[Hook] = []
        self.shutdown_hooks: list[Hook] = []
        self.app_hooks: list[AppHook] = []
        self.probes: dict[str, Probe] = {}

    def __repr__(self) -> str:
        return f"<Service {self.name}>"

    def migrations_path(self) -> Path | None:
        if self.migrations is None:
            return None
        if isinstance(self.migrations, Path):
            return self.migrations
        return migrations_dir(self.migrations)

    # -- declarations --------------------------------------------------------

    def rpc[Req: WireModel, Resp: WireModel](
        self, spec: RpcMethod[Req, Resp]
    ) -> Callable[[RpcMethodHandler[Req, Resp]], RpcMethodHandler[Req, Resp]]:
        """Serve ``spec`` (declared in ``tentenone.wire``) with the decorated handler."""
        if not isinstance(spec, RpcMethod) or spec.service != self.name:
            raise ConfigError(f"{self.name} can only serve its own RpcMethods, got {spec!r}")
        if any(e.spec.name == spec.name for e in self.rpc_entries):
            raise ConfigError(f"{spec.routing_key} has a handler already")

        def register(fn: RpcMethodHandler[Req, Resp]) -> RpcMethodHandler[Req, Resp]:
            self.rpc_entries.append(RpcEntry(spec, fn))
            return fn

        return register

    def consumer[E: Event](
        self,
        event_cls: type[E],
        *,
        name: str | None = None,
        policy: ConsumerPolicy | None = None,
    ) -> Callable[[ConsumerHandler[E]], ConsumerHandler[E]]:
        """Apply each ``event_cls`` event once, in a transaction that claims it in the inbox."""
        if not (isinstance(event_cls, type) and issubclass(event_cls, Event)):
            raise ConfigError(f"consumer takes an Event class, got {event_cls!r}")
        REGISTRY.event_class(getattr(event_cls, "event_type", None))  # type: ignore[arg-type]

        def register(fn: ConsumerHandler[E]) -> ConsumerHandler[E]:
            self._add_consumer(
                name or fn.__name__, event_cls.source, event_cls.event_type, event_cls, fn, policy
            )
            return fn

        return register

    def raw_consumer(
        self,
        source: str,
        event_type: str,
        *,
        name: str | None = None,
        policy: ConsumerPolicy | None = None,
    ) -> Callable[[ConsumerHandler[Any]], ConsumerHandler[Any]]:
        """Like ``consumer``, for events of a publisher without a model (payload: JSON)."""
        check_service_name(source)
        check_event_type(event_type)

        def register(fn: ConsumerHandler[Any]) -> ConsumerHandler[Any]:
            self._add_consumer(name or fn.__name__, source, event_type, None, fn, policy)
            return fn

        return register

    def _add_consumer(
        self,
        name: str,
        source: str,
        event_type: str,
        event_cls: type[Event] | None,
        fn: ConsumerHandler[Any],
        policy: ConsumerPolicy | None,
    ) -> None:
        check_method_name(name)
        if any(c.name == name for c in self.consumers):
            raise ConfigError(f"{self.name} has two consumers named {name!r}")
        self.consumers.append(
            ConsumerEntry(name, source, event_type, event_cls, fn, policy or ConsumerPolicy())
        )

    def background(self, fn: BackgroundTask) -> BackgroundTask:
        """Run ``fn(ctx)`` while the service runs; restarted (with backoff) if it fails."""
        if any(b.name == fn.__name__ for b in self.background_tasks):
            raise ConfigError(f"{self.name} has two background tasks named {fn.__name__!r}")
        self.background_tasks.append(BackgroundEntry(fn.__name__, fn))
        return fn

    def include_router(self, router: APIRouter, **kwargs: Any) -> None:
        """Add FastAPI routes; handlers get the context with ``ctx: Context``."""
        if not isinstance(router, APIRouter):
            raise ConfigError(f"include_router takes an APIRouter, got {router!r}")
        self.routers.append((router, kwargs))

    def configure_app(self, fn: AppHook) -> AppHook:
        """Call ``fn(app, settings)`` once routes are in: middleware, error handlers, OpenAPI."""
        self.app_hooks.append(fn)
        return fn

    def probe(self, name: str) -> Callable[[Probe], Probe]:
        """Add a ``/readyz`` check: ``fn(ctx)`` raises (or times out) when not ready."""
        check_method_name(name)
        if name in self.probes or name in ("state", "broker", "database", "migrations"):
            raise ConfigError(f"{self.name} has a readiness probe named {name!r} already")

        def register(fn: Probe) -> Probe:
            self.probes[name] = fn
            return fn

        return register

    def on_startup(self, fn: Hook) -> Hook:
        """Run once the database and bus are up, before consuming starts."""
        self.startup_hooks.append(fn)
        return fn

    def on_shutdown(self, fn: Hook) -> Hook:
        """Run after consuming stopped, before the outbox is flushed."""
        self.shutdown_hooks.append(fn)
        return fn

    # -- running ------------------------------------------------------------

    def main(self, argv: list[str] | None = None) -> int:
        """The ``tentenone-<name>`` console script: run this service as a process."""
        from tentenone.service.process import run_service

        return run_service(self, argv)
