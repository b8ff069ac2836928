"""``tentenone demo``: everything installed, in one process, on this machine.

The embedded default: one in-process bus shared by every service and one
SQLite file per service under ``.demo/``. ``TENTENONE_AMQP_URL`` and
``TENTENONE_DATABASE_URL`` switch to RabbitMQ / PostgreSQL instead.

What runs is what is installed: services through the ``tentenone.services``
entry points, other parts (devnet node, Electrum server, the app's web
server) through ``tentenone.components`` factories. Components start in
``order`` (lower first; services are 100), each can read the URLs of the ones
before it from the environment, and they stop in reverse order on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import os
import signal
import sys
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tentenone.bus.memory import MemoryBroker
from tentenone.config import ROOT_PREFIX, BaseServiceSettings
from tentenone.logging import configure_logging
from tentenone.market.schedule import DEMO_SPEC
from tentenone.service.definition import Service
from tentenone.service.discovery import discover_components, discover_services
from tentenone.service.runner import ServiceRunner

__all__ = [
    "Component",
    "ComponentFactory",
    "DemoEnvironment",
    "ServiceComponent",
    "main",
    "run_demo",
]

_log = logging.getLogger(__name__)


@dataclass
class DemoEnvironment:
    """What components share: where data goes, which broker and database to use."""

    data_dir: Path
    amqp_url: str | None = None
    database_url: str | None = None
    broker: MemoryBroker = field(default_factory=MemoryBroker)
    #: component name -> label -> URL, filled in as components start
    urls: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def from_env(cls, data_dir: Path) -> DemoEnvironment:
        return cls(
            data_dir=data_dir,
            amqp_url=os.environ.get(f"{ROOT_PREFIX}AMQP_URL") or None,
            database_url=os.environ.get(f"{ROOT_PREFIX}DATABASE_URL") or None,
        )

    @property
    def bus_description(self) -> str:
        return "RabbitMQ" if self.amqp_url else "in-process bus"

    @property
    def database_description(self) -> str:
        if self.database_url:
            return "PostgreSQL" if self.database_url.startswith("postgresql") else "database URL"
        return f"SQLite files in {self.data_dir}/"


class Component(ABC):
    """A part of the demo with a lifetime: started, stopped, reachable at some URLs."""

    name: str
    order: int = 50

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def urls(self) -> dict[str, str]: ...


type ComponentFactory = Callable[[DemoEnvironment], Component | Awaitable[Component]]


def _demo_settings(service: Service, env: DemoEnvironment) -> BaseServiceSettings:
    settings = service.settings_cls()
    update: dict[str, object] = {}
    # The environment wins; otherwise the embedded default.
    if "database_url" not in settings.model_fields_set:
        update["database_url"] = f"sqlite+aiosqlite:///{env.data_dir}/{service.name}.db"
    if service.demo_settings is not None:
        for key, value in service.demo_settings(env.data_dir).items():
            if key not in settings.model_fields_set:
                update[key] = value
    return settings.model_copy(update=update) if update else settings


class ServiceComponent(Component):
    order = 100

    def __init__(self, service: Service, env: DemoEnvironment) -> None:
        self.name = service.name
        self._service = service
        self._env = env
        self.runner: ServiceRunner | None = None

    async def start(self) -> None:
        # Settings are read now, not when the component is built: components that
        # started before (the devnet) export their URLs into the environment.
        settings = _demo_settings(self._service, self._env)
        self.runner = ServiceRunner(self._service, settings, broker=self._env.broker)
        await self.runner.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.stop()

    def urls(self) -> dict[str, str]:
        url = self.runner.url if self.runner is not None else None
        return {"http": url, "ready": f"{url}/readyz"} if url else {}


async def _build(factory: ComponentFactory, env: DemoEnvironment) -> Component:
    made = factory(env)
    if inspect.isawaitable(made):
        made = await made
    if not isinstance(made, Component):
        raise TypeError(f"component factory {factory!r} returned {made!r}, not a Component")
    return made


def _print_table(
    env: DemoEnvironment,
    started: Sequence[Component],
    failed: Sequence[tuple[str, str]],
    out: TextIO,
) -> None:
    print(f"tentenone demo: {env.bus_description}, {env.database_description}", file=out)
    if not started and not failed:
        print("  nothing is installed yet (no tentenone.services entry points)", file=out)
    for component in started:
        urls = component.urls()
        first = True
        for label, url in urls.items():
            name = component.name if first else ""
            print(f"  {name:<16} {label:<8} {url}", file=out)
            first = False
        if not urls:
            print(f"  {component.name:<16} (running)", file=out)
    for name, reason in failed:
        print(f"  {name:<16} FAILED   {reason}", file=out)
    print("Ctrl-C stops everything.", file=out, flush=True)


def _write_trader_env(env: DemoEnvironment, out: TextIO) -> None:
    """``trader.env``: what ``tentenone-trader`` needs to trade on this demo's devnet."""
    gateway = env.urls.get("gateway", {}).get("http")
    electrum = os.environ.get(f"{ROOT_PREFIX}ELECTRUM_SERVERS")
    if not gateway or not electrum:
        return
    servers = electrum if electrum.startswith("[") else f'["{electrum}"]'
    values = {
        "TENTENONE_TRADER_GATEWAY_URL": gateway,
        "TENTENONE_TRADER_ELECTRUM_SERVERS": servers,
        "TENTENONE_TRADER_NETWORK": "regtest",
        "TENTENONE_TRADER_DATA_DIR": str((env.data_dir / "trader").resolve()),
        "TENTENONE_DEVNET_RPC_URL": os.environ.get(f"{ROOT_PREFIX}BITCOIND_RPC_URL", ""),
        "TENTENONE_DEVNET_RPC_USER": os.environ.get(f"{ROOT_PREFIX}BITCOIND_RPC_USER", ""),
        "TENTENONE_DEVNET_RPC_PASSWORD": os.environ.get(f"{ROOT_PREFIX}BITCOIND_RPC_PASSWORD", ""),
    }
    path = env.data_dir / "trader.env"
    # the devnet's RPC password is in it: the owner's eyes only
    path.touch(mode=0o600)
    path.write_text("".join(f"{k}='{v}'\n" for k, v in values.items()))
    print(f"Trade from a terminal: set -a; . {path}; set +a; then", file=out)
    print("  .venv/bin/tentenone-trader create   (then fund, order, run; see README)", file=out)
    out.flush()


async def run_demo(
    env: DemoEnvironment,
    factories: Sequence[ComponentFactory],
    stop: asyncio.Event,
    out: TextIO = sys.stdout,
    duration_s: float | None = None,
) -> int:
    """Start the components in order, print where they are, wait for ``stop``, stop them.

    A component that fails to start is reported and the others keep running;
    the exit code is then 1. ``duration_s`` stops the demo that long after start.
    """
    env.data_dir.mkdir(parents=True, exist_ok=True)
    started: list[Component] = []
    failed: list[tuple[str, str]] = []
    try:
        components: list[Component] = []
        for factory in factories:
            try:
                components.append(await _build(factory, env))
            except Exception as exc:
                _log.exception("cannot build component %r", factory)
                failed.append((getattr(factory, "__name__", repr(factory)), _reason(exc)))
        for component in sorted(components, key=lambda c: c.order):
            if stop.is_set():
                break
            _log.info("starting %s", component.name)
            try:
                await component.start()
            except Exception as exc:
                _log.exception("%s failed to start", component.name)
                failed.append((component.name, _reason(exc)))
                continue
            started.append(component)
            env.urls[component.name] = component.urls()
        _print_table(env, started, failed, out)
        _write_trader_env(env, out)
        if duration_s is not None:
            asyncio.get_running_loop().call_later(duration_s, stop.set)
        await stop.wait()
        return 1 if failed else 0
    finally:
        for component in reversed(started):
            try:
                await component.stop()
            except Exception:
                _log.exception("stopping %s failed", component.name)
        print("tentenone demo: stopped", file=out, flush=True)


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200]


def _factories() -> list[ComponentFactory]:
    factories: list[ComponentFactory] = []
    for name, factory in discover_components():
        if callable(factory):
            factories.append(factory)
        else:
            _log.error("component %s is not a factory", name)
    for service in discover_services():
        factories.append(_service_factory(service))
    return factories


def _service_factory(service: Service) -> ComponentFactory:
    def make(env: DemoEnvironment) -> Component:
        return ServiceComponent(service, env)

    return make


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tentenone", description="tentenone command line")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="start everything installed on this machine")
    demo.add_argument("--data-dir", type=Path, default=Path(".demo"))
    demo.add_argument(
        "--for", dest="duration", type=float, default=None, help="stop N s after start"
    )
    demo.add_argument("--log-level", default="INFO")
    sub.add_parser("services", help="list the installed services")
    args = parser.parse_args(argv)
    if args.command == "services":
        for service in discover_services():
            print(f"{service.name}\t{service.description}")
        return 0
    configure_logging(None, args.log_level, json_logs=False)
    return asyncio.run(_demo(args.data_dir, args.duration))


async def _demo(data_dir: Path, duration: float | None) -> int:
    # Demo mode: every service sees expiries every few minutes, unless told otherwise.
    os.environ.setdefault(f"{ROOT_PREFIX}EXPIRY_SCHEDULE", DEMO_SPEC)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    env = DemoEnvironment.from_env(data_dir)
    return await run_demo(env, _factories(), stop, duration_s=duration)
