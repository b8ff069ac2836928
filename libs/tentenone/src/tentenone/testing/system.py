"""The whole coordinator as real processes on a devnet, for end-to-end tests and benches.

``System`` starts every installed service (``tentenone.services`` entry
points: oracle, DLC, gateway, and the order book, maker and chain monitor
where installed) as its own ``python -m tentenone_<name>`` process on the
machine's RabbitMQ (a vhost of its own), PostgreSQL (a database of its own,
a schema per service), Redis (a key prefix of its own) and ephemeral ports,
wired to a devnet node and its ElectrumX::

    system = System(net, base_dir, SystemConfig(expiry_every_s=30))
    await system.start()                         # every service ready
    system.kill("dlc")                           # SIGKILL, as a power cut
    await system.restart("dlc", crash_at=["dlc.coordinator.settle.before_broadcast"])
    point = await system.wait_died("dlc")        # the crash point it died at
    await system.restart("dlc")
    await system.stop()                          # processes, vhost, database, keys

The devnet is passed in (``ChainNet``: what ``tentenone_devnet.testing.Devnet``
offers), so the library does not depend on the devnet package. The oracle
runs the simulated feed with zero volatility by default: the index price is
``SystemConfig.price_usd`` until a test restarts the oracle with another
(``set_price``), so a test knows the price the oracle will attest.

The test process holds its own bus client (``system.bus``) for RPC to the
services (``system.rpc``) and for watching their events (``system.events``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from tentenone.bitcoin.script import script_pubkey_to_address
from tentenone.bus import Bus
from tentenone.bus.events import ReceivedEvent
from tentenone.bus.policy import BusLimits
from tentenone.chain import Network
from tentenone.crashpoint import CRASH_AT_ENV
from tentenone.market.schedule import ExpirySchedule
from tentenone.oracle import schnorr
from tentenone.testing import postgres
from tentenone.testing.processes import PythonProcess
from tentenone.testing.rabbitmqctl import RabbitmqctlError, rabbitmqctl
from tentenone.testing.waiting import wait_until
from tentenone.wallet import AddressKind, WalletAccount, generate_mnemonic
from tentenone.wire import REGISTRY
from tentenone.wire.dlc import BUS_MESSAGE_BYTES

__all__ = [
    "HOUSE",
    "START_ORDER",
    "ChainNet",
    "ServiceProcess",
    "System",
    "SystemConfig",
    "installed_services",
]

#: the order book account id the coordinator trades as (no DLC with itself)
HOUSE = "house"
#: services are spawned in this order (others after, by name)
START_ORDER = ("oracle", "chain-monitor", "orderbook", "dlc", "maker", "gateway")
_log = logging.getLogger(__name__)
_READY = r'"msg": "service {name} ready"'
_URL = re.compile(r'"url": "(http://[^"]+)"')
_KILLED = re.compile(r"crashpoint: killed at (\S+)")
#: what a service logs when RabbitMQ did not answer in time; such a start is tried again
_BROKER_AWAY = '"code": "bus_unavailable"'
_START_ATTEMPTS = 3


class ChainNet(Protocol):
    """The devnet as the system needs it (``tentenone_devnet.testing.Devnet`` is one)."""

    rpc_auth: tuple[str, str]

    @property
    def rpc_url(self) -> str: ...

    @property
    def electrum_address(self) -> str: ...

    def fund(self, address: str, sats: int, confirm: bool = False) -> tuple[str, int]: ...

    def mine(self, blocks: int = 1, address: str | None = None) -> list[str]: ...

    def wait_electrum_synced(self, timeout: float = 60.0) -> None: ...


def installed_services() -> dict[str, str]:
    """Service name -> the package run as ``python -m <package>``, from the entry points."""
    found: dict[str, str] = {}
    for ep in entry_points(group="tentenone.services"):
        found.setdefault(ep.name, ep.value.split(":")[0].split(".")[0])
    return found


@dataclass
class SystemConfig:
    """How the system runs: short expiries, small contracts, quick polls."""

    #: an expiry every this many seconds (``TENTENONE_EXPIRY_SCHEDULE=every:<n>s``)
    expiry_every_s: int = 30
    #: the simulated index price (volatility 0: it stays there)
    price_usd: int = 50_000
    #: CETs per contract (the oracle's 20 digits stay; fewer CETs, coarser rounding)
    max_cets: int = 60
    #: blocks after maturity (at ``block_interval_s``) before the refund is valid
    refund_delay_blocks: int = 100
    block_interval_s: int = 600
    fee_rate: int = 2
    offer_timeout_s: float = 180.0
    close_quote_ttl_s: float = 60.0
    poll_interval_s: float = 0.5
    coordinator_leverage: int = 1
    #: the coordinator's wallet: this many coins of this many sats
    coordinator_coins: int = 8
    coordinator_coin_sats: int = 20_000_000
    #: only these services (None: every installed one)
    services: Sequence[str] | None = None
    #: extra environment per service name
    env: dict[str, dict[str, str]] = field(default_factory=dict)


class ServiceProcess:
    """One service as a real process: start, wait until ready, kill -9, restart."""

    def __init__(self, name: str, package: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.package = package
        self.base_env = dict(env)
        self.proc = PythonProcess(package, env=self.base_env, log_dir=log_dir)
        #: its HTTP address (``/healthz``, ``/readyz``, ``/metrics``) once ready
        self.url: str | None = None
        #: crash points this process died at, in order
        self.deaths: list[str] = []

    @property
    def running(self) -> bool:
        return self.proc.running

    def start(self, env: Mapping[str, str] | None = None, crash_at: Sequence[str] = ()) -> None:
        """Start with the base environment plus ``env``; ``crash_at`` sets the crash points."""
        extra = dict(env or {})
        if crash_at:
            extra[CRASH_AT_ENV] = ",".join(crash_at)
        self.proc.env = _clean_environ() | self.base_env | extra
        self.url = None
        self.proc.start()

    async def wait_ready(self, timeout: float = 120.0) -> str:  # noqa: ASYNC109 - a deadline
        """Until the runner logs ``service <name> ready``; its URL.

        A process that exits because it could not reach RabbitMQ in time (a loaded
        machine) is started again, as its supervisor would, a few times.
        """
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                found = await self.proc.wait_for_output(_READY.format(name=self.name), timeout)
                break
            except RuntimeError:
                if attempt == _START_ATTEMPTS or _BROKER_AWAY not in self.proc.output():
                    raise
                self.proc.start()
        line = self.proc.output()[found.start() :].splitlines()[0]
        url = _URL.search(line)
        self.url = url.group(1) if url else None
        return self.url or ""

    def kill(self) -> int:
        """SIGKILL (the whole process group); the exit code."""
        if not self.proc.running:
            return self.proc.returncode or 0
        return self.proc.kill()

    def terminate(self) -> int:
        if not self.proc.running and self.proc.pid is None:
            return 0
        return self.proc.terminate()

    def crash_point(self) -> str | None:
        """The crash point the current run died at (from its last words), if any."""
        found = _KILLED.search(self.proc.output())
        return found.group(1) if found else None

    async def wait_died(self, timeout: float = 120.0) -> str:  # noqa: ASYNC109 - a deadline
        """Until the process has killed itself at a crash point; that point's name."""

        def dead() -> bool:
            return self.proc.returncode is not None

        await wait_until(dead, timeout, interval=0.1, what=f"{self.name} to die at a crash point")
        point = self.crash_point()
        if self.proc.returncode != -9 or point is None:
            raise AssertionError(
                f"{self.name} exited {self.proc.returncode} without a crash point; "
                f"output:\n{self.proc.output()[-3000:]}"
            )
        self.deaths.append(point)
        return point

    def output(self) -> str:
        return self.proc.output()


def _clean_environ() -> dict[str, str]:
    """This process's environment without settings of ours a developer's shell may hold."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TENTENONE_") or k.startswith("TENTENONE_TEST_")
    }


class System:
    """Every service of the coordinator as its own process on ``net`` (see the module)."""

    def __init__(self, net: ChainNet, base_dir: Path, config: SystemConfig | None = None) -> None:
        self.net = net
        self.base_dir = base_dir
        self.config = config or SystemConfig()
        self.run_id = uuid.uuid4().hex[:10]
        self.oracle_secret = secrets.token_bytes(32)
        self.oracle_pubkey = schnorr.public_key(self.oracle_secret).hex()
        self.coordinator_words = generate_mnemonic()
        self.coordinator_account = WalletAccount.from_mnemonic(
            self.coordinator_words, Network.REGTEST, AddressKind.P2WPKH
        )
        self.schedule = ExpirySchedule.every(self.config.expiry_every_s)
        self.services: dict[str, ServiceProcess] = {}
        self.vhost = f"tt-{os.getpid()}-e2e{self.run_id}"
        self.database = ""
        self.redis_prefix = f"tt-e2e-{self.run_id}:"
        self.bus: Bus | None = None
        #: every event the test process subscribed to, in arrival order
        self.events: list[ReceivedEvent[Any]] = []
        self._price = self.config.price_usd

    # -- life -----------------------------------------------------------------------

    async def start(self) -> None:
        """Vhost, database, coordinator coins, then every service (ready), then our bus."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(rabbitmqctl, "add_vhost", self.vhost)
        await asyncio.to_thread(
            rabbitmqctl, "set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*"
        )
        self.database = await asyncio.to_thread(postgres.create_database)
        await asyncio.to_thread(self._fund_coordinator)
        wanted = self._wanted()
        for name in sorted(wanted, key=_start_rank):
            service = ServiceProcess(name, wanted[name], self._env(name), self.base_dir / "logs")
            self.services[name] = service
            service.start()
        # Nothing needs another service to start: they come up together.
        await asyncio.gather(*(s.wait_ready() for s in self.services.values()))
        self.bus = Bus.for_url(
            f"e2e-{self.run_id}",
            self.amqp_url,
            limits=BusLimits(max_message_bytes=BUS_MESSAGE_BYTES),
        )
        await self.bus.start()

    async def stop(self) -> None:
        """Stop every process, then remove the vhost, the database and the Redis keys."""
        if self.bus is not None:
            await self.bus.close()
            self.bus = None
        for service in self.services.values():
            if service.running:
                await asyncio.to_thread(service.terminate)
        if self.database:
            await asyncio.to_thread(postgres.drop_database, self.database)
            self.database = ""
        try:
            await asyncio.to_thread(rabbitmqctl, "delete_vhost", self.vhost)
        except RabbitmqctlError as exc:
            # A leftover vhost costs the broker memory, not this test its result;
            # the next run's sweep removes it.
            _log.warning("deleting vhost %s failed: %s", self.vhost, exc)
        await self._drop_redis_keys()

    # -- processes --------------------------------------------------------------------

    def service(self, name: str) -> ServiceProcess:
        if name not in self.services:
            raise KeyError(f"{name} is not running in this system: {sorted(self.services)}")
        return self.services[name]

    def kill(self, name: str) -> int:
        """SIGKILL ``name``; the exit code (-9)."""
        return self.service(name).kill()

    async def restart(
        self,
        name: str,
        *,
        env: Mapping[str, str] | None = None,
        crash_at: Sequence[str] = (),
        wait_ready: bool = True,
    ) -> ServiceProcess:
        """Kill ``name`` if it runs, start it again (with ``env`` and crash points)."""
        service = self.service(name)
        service.kill()
        service.start(env, crash_at)
        if wait_ready:
            await service.wait_ready()
        return service

    async def wait_died(self, name: str, timeout: float = 120.0) -> str:  # noqa: ASYNC109
        return await self.service(name).wait_died(timeout)

    async def set_price(self, price_usd: int) -> None:
        """The index price moves: the oracle restarts with the simulated feed at ``price_usd``."""
        self._price = price_usd
        await self.restart("oracle", env={"TENTENONE_ORACLE_SIM_START_PRICE": str(price_usd)})
        self.service("oracle").base_env["TENTENONE_ORACLE_SIM_START_PRICE"] = str(price_usd)

    @property
    def price_usd(self) -> int:
        return self._price

    # -- what tests use -----------------------------------------------------------------

    @property
    def amqp_url(self) -> str:
        host = os.environ.get("TENTENONE_TEST_AMQP_HOST", "127.0.0.1")
        port = os.environ.get("TENTENONE_TEST_AMQP_PORT", "5672")
        return f"amqp://guest:guest@{host}:{port}/{quote(self.vhost, safe='')}"

    @property
    def database_url(self) -> str:
        return postgres.async_url(self.database)

    @property
    def redis_url(self) -> str:
        return os.environ.get("TENTENONE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

    @property
    def electrum_servers(self) -> list[str]:
        return [f"tcp://{self.net.electrum_address}"]

    @property
    def gateway_url(self) -> str:
        url = self.service("gateway").url
        if url is None:
            raise RuntimeError("the gateway is not ready")
        return url

    def event_at_least(self, seconds: float) -> str:
        """The oracle event id of the first expiry at least ``seconds`` from now."""
        when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        return self.schedule.event_id(self.schedule.at_or_after(when))

    async def rpc(self, spec: Any, request: Any, timeout_s: float = 30.0) -> Any:
        """A typed RPC to a service (``tentenone.wire`` spec and request model)."""
        assert self.bus is not None, "start the system first"
        return await self.bus.request(spec, request, timeout_s=timeout_s)

    async def watch(self, *event_types: str) -> None:
        """Collect these events (``position.opened``, ``oracle.attested``) in ``events``."""
        assert self.bus is not None, "start the system first"

        async def collect(event: ReceivedEvent[Any]) -> None:
            self.events.append(event)

        for event_type in event_types:
            cls = REGISTRY.event_class(event_type)
            await self.bus.subscribe(
                cls, collect, name=f"e2e_{self.run_id}_{event_type.replace('.', '_')}"
            )

    def seen(self, event_type: str) -> list[Any]:
        return [e.payload for e in self.events if e.event_type == event_type]

    def mine(self, blocks: int = 1) -> list[str]:
        hashes = self.net.mine(blocks)
        self.net.wait_electrum_synced()
        return hashes

    # -- setup --------------------------------------------------------------------------

    def _wanted(self) -> dict[str, str]:
        installed = installed_services()
        names = list(self.config.services) if self.config.services is not None else installed
        missing = [n for n in names if n not in installed]
        if missing:
            raise RuntimeError(f"services not installed: {missing}")
        return {n: installed[n] for n in names}

    def _fund_coordinator(self) -> None:
        for index in range(self.config.coordinator_coins):
            spk = self.coordinator_account.derive(0, index).script
            address = script_pubkey_to_address(spk, "regtest")
            self.net.fund(address, self.config.coordinator_coin_sats)
        self.net.mine(1)
        self.net.wait_electrum_synced()

    def _secret_file(self, name: str, value: str) -> str:
        path = self.base_dir / "secrets" / name
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(value)
        path.chmod(0o600)
        return str(path)

    def _env(self, name: str) -> dict[str, str]:
        c = self.config
        user, password = self.net.rpc_auth
        common = {
            "TENTENONE_AMQP_URL": self.amqp_url,
            "TENTENONE_DATABASE_URL": self.database_url,
            "TENTENONE_REDIS_URL": self.redis_url,
            "TENTENONE_HTTP_PORT": "0",
            "TENTENONE_LOG_LEVEL": "INFO",
            "TENTENONE_EXPIRY_SCHEDULE": f"every:{c.expiry_every_s}s",
            "TENTENONE_BUS_MAX_MESSAGE_BYTES": str(BUS_MESSAGE_BYTES),
            # a single-node broker shared by a whole test run (ADR 0018)
            "TENTENONE_AMQP_QUEUE_TYPE": os.environ.get("TENTENONE_AMQP_QUEUE_TYPE", "classic"),
            "TENTENONE_NETWORK": "regtest",
            "TENTENONE_ELECTRUM_SERVERS": json.dumps(self.electrum_servers),
            "TENTENONE_BITCOIND_RPC_URL": self.net.rpc_url,
            "TENTENONE_BITCOIND_RPC_USER": user,
            "TENTENONE_BITCOIND_RPC_PASSWORD": password,
            "TENTENONE_SHUTDOWN_GRACE_S": "3",
        }
        own = {
            "oracle": self._oracle_env,
            "dlc": self._dlc_env,
            "gateway": self._gateway_env,
        }.get(name, lambda: {})()
        data = self.base_dir / "data" / name
        data.mkdir(parents=True, exist_ok=True)
        prefix = f"TENTENONE_{name.upper().replace('-', '_')}_"
        return {
            **common,
            f"{prefix}DATA_DIR": str(data),
            f"{prefix}HOUSE_TRADERS": json.dumps([HOUSE]),
            **own,
            **c.env.get(name, {}),
        }

    def _oracle_env(self) -> dict[str, str]:
        p = "TENTENONE_ORACLE_"
        return {
            f"{p}SECRET_KEY_FILE": self._secret_file("oracle.key", self.oracle_secret.hex()),
            f"{p}PRICE_SOURCES": '["simulated"]',
            f"{p}MIN_SOURCES": "1",
            f"{p}SIM_VOLATILITY": "0",
            f"{p}SIM_START_PRICE": str(self._price),
            f"{p}TICK_S": "0.5",
            f"{p}INDEX_PRICE_INTERVAL_S": "1",
            f"{p}ANNOUNCE_AHEAD": "8",
        }

    def _dlc_env(self) -> dict[str, str]:
        c = self.config
        p = "TENTENONE_DLC_"
        return {
            f"{p}FUNDING_SEED_FILE": self._secret_file("dlc.seed", secrets.token_hex(32)),
            f"{p}WALLET_MNEMONIC_FILE": self._secret_file("dlc.words", self.coordinator_words),
            f"{p}ELECTRUM_SERVERS": json.dumps(self.electrum_servers),
            f"{p}MAX_CETS": str(c.max_cets),
            f"{p}FEE_RATE": str(c.fee_rate),
            f"{p}COORDINATOR_LEVERAGE": str(c.coordinator_leverage),
            f"{p}REFUND_DELAY_BLOCKS": str(c.refund_delay_blocks),
            f"{p}BLOCK_INTERVAL_S": str(c.block_interval_s),
            f"{p}OFFER_TIMEOUT_S": str(c.offer_timeout_s),
            f"{p}CLOSE_QUOTE_TTL_S": str(c.close_quote_ttl_s),
            f"{p}POLL_INTERVAL_S": str(c.poll_interval_s),
            f"{p}FUNDING_DEPTH": "1",
        }

    def _gateway_env(self) -> dict[str, str]:
        # Every trader of a test comes from 127.0.0.1: the per-IP limits would be the test's.
        p = "TENTENONE_GATEWAY_"
        return {
            f"{p}REDIS_PREFIX": self.redis_prefix,
            f"{p}IP_BURST": "100000",
            f"{p}IP_PER_S": "10000",
            f"{p}KEY_BURST": "10000",
            f"{p}KEY_PER_S": "1000",
            f"{p}AUTH_BURST": "10000",
            f"{p}AUTH_PER_S": "1000",
        }

    async def _drop_redis_keys(self) -> None:
        from redis.asyncio import Redis

        redis = Redis.from_url(self.redis_url, socket_connect_timeout=5)
        try:
            keys = [k async for k in redis.scan_iter(match=f"{self.redis_prefix}*", count=500)]
            for start in range(0, len(keys), 500):
                await redis.delete(*keys[start : start + 500])
        finally:
            await redis.aclose()


def _start_rank(name: str) -> tuple[int, str]:
    return (START_ORDER.index(name) if name in START_ORDER else len(START_ORDER), name)
