"""Runs one declared service: database, migrations, bus, relay, consumers, RPC, HTTP.

``ServiceRunner`` is the same whether the service is its own process
(``tentenone-<name>``) or one of many in ``tentenone demo``. Start order:
HTTP first (``/healthz`` answers, ``/readyz`` says starting), migrations,
bus, startup hooks, RPC methods, consumers, outbox relay, background tasks,
ready. Stop order (SIGTERM): unready, stop consuming and finish what is in
hand, stop background tasks, shutdown hooks, flush the outbox, close the
bus, the HTTP server and the database. Every step is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import time
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import uvicorn

from tentenone.bus.bus import Bus
from tentenone.bus.idempotent import idempotent
from tentenone.bus.memory import MemoryBroker
from tentenone.bus.policy import BusLimits
from tentenone.bus.relay import OutboxRelay
from tentenone.bus.rpc import RpcCall
from tentenone.bus.transport import QueueKind
from tentenone.config import BaseServiceSettings
from tentenone.errors import ConfigError, TentenoneError, Unavailable
from tentenone.metrics import QUEUE_DEPTH
from tentenone.service.context import ServiceContext
from tentenone.service.definition import BackgroundEntry, ConsumerEntry, RpcEntry, Service
from tentenone.service.http import build_app, run_checks
from tentenone.store import Database

__all__ = ["RunnerState", "ServiceRunner"]

_log = logging.getLogger(__name__)


class RunnerState(StrEnum):
    NEW = "new"
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    STOPPED = "stopped"


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the runner owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ServiceRunner:
    def __init__(
        self,
        service: Service,
        settings: BaseServiceSettings | None = None,
        *,
        broker: MemoryBroker | None = None,
        serve_http: bool = True,
        limits: BusLimits | None = None,
    ) -> None:
        self.service = service
        self.settings = settings if settings is not None else service.settings_cls()
        self.state = RunnerState.NEW
        self._broker = broker
        self._serve_http = serve_http
        self._limits = limits or BusLimits(
            max_message_bytes=self.settings.bus_max_message_bytes,
            queue_kind=QueueKind(self.settings.amqp_queue_type),
        )
        self.db: Database | None = None
        self.bus: Bus | None = None
        self.relay: OutboxRelay | None = None
        self.ctx: ServiceContext | None = None
        self.app = build_app(self)
        self._server: _Server | None = None
        self._server_task: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []
        self.port: int | None = None

    @property
    def url(self) -> str | None:
        if self.port is None:
            return None
        return f"http://{self.settings.http_host}:{self.port}"

    # -- start ----------------------------------------------------------------

    async def start(self) -> None:
        if self.state is not RunnerState.NEW:
            raise ConfigError(f"{self.service.name} runner was started already")
        self.state = RunnerState.STARTING
        try:
            if self._serve_http:
                await self._start_http()
            await self._start_core()
        except BaseException:
            await self.stop(grace_s=2.0)
            raise
        self.state = RunnerState.READY
        _log.info("service %s ready", self.service.name, extra={"url": self.url, "state": "ready"})

    async def _start_core(self) -> None:
        service, settings = self.service, self.settings
        migrations = service.migrations_path()
        if migrations is None and (service.consumers or service.rpc_entries):
            _log.info("%s has no migrations: no outbox or inbox tables", service.name)
        self.db = Database.from_settings(settings, metadata=service.metadata, migrations=migrations)
        if migrations is not None:
            await self.db.migrate()
        amqp = settings.amqp_url.get_secret_value() if settings.amqp_url else None
        self.bus = Bus.for_url(
            service.name,
            amqp,
            broker=self._broker,
            prefix=settings.amqp_prefix,
            limits=self._limits,
        )
        await self.bus.start()
        self.relay = OutboxRelay(self.db, self.bus)
        ctx = self.ctx = ServiceContext(service.name, settings, self.db, self.bus, self.relay)
        for hook in service.startup_hooks:
            await hook(ctx)
        for entry in service.rpc_entries:
            await self.bus.serve_typed(entry.spec, _rpc_adapter(ctx, entry))
        for consumer in service.consumers:
            await self._subscribe(ctx, consumer)
        if migrations is not None:
            self.relay.start()
        for task in service.background_tasks:
            self._background.append(
                asyncio.create_task(_supervise(ctx, task), name=f"{service.name}.{task.name}")
            )
        if self.bus.consumer_queues:
            self._background.append(
                asyncio.create_task(_sample_queue_depths(self.bus), name=f"{service.name} depth")
            )
        self.app.state.ctx = ctx

    async def _subscribe(self, ctx: ServiceContext, entry: ConsumerEntry) -> None:
        assert self.bus is not None and self.db is not None

        async def apply(session: Any, event: Any) -> None:
            await entry.handler(ctx, session, event)

        single, batch = idempotent(self.db, entry.name, apply)
        if entry.event_cls is not None:
            await self.bus.subscribe(
                entry.event_cls, single, name=entry.name, policy=entry.policy, batch_handler=batch
            )
        else:
            await self.bus.subscribe_raw(
                entry.source, entry.event_type, single, name=entry.name, policy=entry.policy
            )

    async def _start_http(self) -> None:
        host, port = self.settings.http_host, self.settings.http_port
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
            # Forwarded headers are trusted only where a service says so (the
            # gateway: its configured proxies), never by uvicorn's default.
            proxy_headers=False,
            server_header=False,
            **self.service.http_options,
        )
        self._server = _Server(config)
        self._server_task = asyncio.create_task(
            self._server.serve(sockets=[sock]), name=f"{self.service.name} http"
        )
        deadline = time.monotonic() + 10
        while not self._server.started:
            if self._server_task.done() or time.monotonic() > deadline:
                raise Unavailable(f"{self.service.name}: no HTTP server on {host}:{port}")
            await asyncio.sleep(0.01)

    # -- health ---------------------------------------------------------------

    async def readiness(self) -> dict[str, str]:
        """``ok`` or what is wrong, for ``/readyz``: state, broker, database, migrations."""
        if self.state is not RunnerState.READY:
            return {"state": self.state.value}
        db, bus = self.db, self.bus
        assert db is not None and bus is not None
        probes: dict[str, Any] = {"broker": bus.ping, "database": db.ping}
        if db.migrations is not None:

            async def migrations() -> None:
                status = await db.migration_status()
                if not status.at_head:
                    raise Unavailable(f"at {status.current}, head is {status.heads}")

            probes["migrations"] = migrations
        ctx = self.ctx
        assert ctx is not None
        for name, probe in self.service.probes.items():
            probes[name] = functools.partial(probe, ctx)
        return await run_checks(probes)

    # -- stop -----------------------------------------------------------------

    async def stop(self, grace_s: float | None = None) -> None:
        if self.state in (RunnerState.STOPPING, RunnerState.STOPPED):
            return
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        self.state = RunnerState.STOPPING
        self.app.state.ctx = None
        _log.info("service %s stopping", self.service.name)
        if self.bus is not None:
            await self.bus.stop_consuming(grace)
        await self._stop_background(grace)
        if self.ctx is not None:
            for hook in self.service.shutdown_hooks:
                try:
                    await asyncio.wait_for(hook(self.ctx), grace)
                except Exception:
                    _log.exception("shutdown hook of %s failed", self.service.name)
        if self.relay is not None:
            # A service without migrations has no outbox: nothing to flush.
            if self.service.migrations is not None and not await self.relay.flush(grace):
                _log.warning("%s: outbox not flushed; sent on next start", self.service.name)
            await self.relay.stop()
        if self.bus is not None:
            await self.bus.close(grace)
        await self._stop_http()
        if self.db is not None:
            await self.db.close()
        self.state = RunnerState.STOPPED
        _log.info("service %s stopped", self.service.name)

    async def _stop_background(self, grace: float) -> None:
        for task in self._background:
            task.cancel()
        if self._background:
            await asyncio.wait(self._background, timeout=grace)
        self._background.clear()

    async def _stop_http(self) -> None:
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(self._server_task, 10)
            except (TimeoutError, asyncio.CancelledError):
                self._server_task.cancel()
        self._server = None
        self._server_task = None


def _rpc_adapter(ctx: ServiceContext, entry: RpcEntry) -> Any:
    async def handle(request: Any, call: RpcCall) -> Any:
        return await entry.handler(ctx, request)

    return handle


async def _sample_queue_depths(bus: Bus, interval_s: float = 15.0) -> None:
    """Keep ``tentenone_bus_queue_depth`` current for this service's consumer queues."""
    while True:
        for queue in bus.consumer_queues:
            try:
                QUEUE_DEPTH.labels(bus.service, queue).set(await bus.queue_depth(queue))
            except TentenoneError as exc:
                _log.debug("queue depth of %s unavailable: %r", queue, exc)
        await asyncio.sleep(interval_s)


async def _supervise(ctx: ServiceContext, task: BackgroundEntry) -> None:
    """Run a background task; restart it after a failure, backing off up to 30 s."""
    backoff = 1.0
    while True:
        started = time.monotonic()
        try:
            await task.fn(ctx)
            _log.info("background task %s of %s finished", task.name, ctx.name)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("background task %s of %s failed", task.name, ctx.name)
        if time.monotonic() - started > 60:
            backoff = 1.0
        await asyncio.sleep(backoff)
        backoff = min(30.0, backoff * 2)
