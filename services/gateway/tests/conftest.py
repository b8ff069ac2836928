"""Fixtures of the gateway's tests: the real Redis, RabbitMQ and services behind the gateway.

- ``redis_prefix``: a key prefix of the test's own on the shared Redis; its
  keys are deleted afterwards.
- ``stack``: ``await stack.gateway(**settings)``, ``stack.fake_dlc()``,
  ``stack.oracle()``, ``stack.orderbook()`` (the last two on PostgreSQL:
  ``stack_pg``): runners in this process on the test's RabbitMQ vhost; all
  stopped at the end.
- ``TraderKey``: a node key that signs in through the challenge flow.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tentenone.oracle import schnorr
from tentenone.service import ServiceRunner
from tentenone.testing import free_port, wait_until_sync
from tentenone_gateway.service import service as gateway_service
from tentenone_gateway.settings import GatewaySettings

from .fake_dlc import FakeDlc, make_fake_dlc

REDIS_URL = os.environ.get("TENTENONE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"tt-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


class TraderKey:
    """A node key that signs in through the challenge flow."""

    def __init__(self) -> None:
        self.secret = secrets.token_bytes(32)
        self.public_key = schnorr.public_key(self.secret).hex()

    def sign(self, digest_hex: str) -> str:
        return schnorr.sign(self.secret, bytes.fromhex(digest_hex)).hex()

    async def challenge(self, http: httpx.AsyncClient) -> dict[str, Any]:
        reply = await http.post("/api/v1/auth/challenge", json={"public_key": self.public_key})
        assert reply.status_code == 201, reply.text
        body: dict[str, Any] = reply.json()
        return body

    async def sign_in(self, http: httpx.AsyncClient) -> str:
        challenge = await self.challenge(http)
        reply = await http.post(
            "/api/v1/auth/session",
            json={
                "public_key": self.public_key,
                "nonce": challenge["nonce"],
                "signature": self.sign(challenge["digest"]),
            },
        )
        assert reply.status_code == 201, reply.text
        token: str = reply.json()["token"]
        return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Stack:
    amqp_url: str
    redis_prefix: str
    tmp: Path
    pg_url: str | None = None
    runners: list[ServiceRunner] = field(default_factory=list)

    def gateway_settings(self, **overrides: Any) -> GatewaySettings:
        values: dict[str, Any] = {
            "database_url": f"sqlite+aiosqlite:///{self.tmp}/gateway-{len(self.runners)}.db",
            "amqp_url": self.amqp_url,
            "redis_url": REDIS_URL,
            "redis_prefix": self.redis_prefix,
            "rpc_timeout_s": 5.0,
            **overrides,
        }
        return GatewaySettings(**values)

    async def gateway(self, **overrides: Any) -> ServiceRunner:
        runner = ServiceRunner(gateway_service, self.gateway_settings(**overrides))
        return await self._start(runner)

    async def fake_dlc(self) -> FakeDlc:
        svc, fake = make_fake_dlc()
        settings = svc.settings_cls(
            database_url=f"sqlite+aiosqlite:///{self.tmp}/dlc.db",
            amqp_url=self.amqp_url,
        )
        await self._start(ServiceRunner(svc, settings, serve_http=False))
        return fake

    async def oracle(self, **overrides: Any) -> ServiceRunner:
        from tentenone_oracle.service import service as oracle_service

        assert self.pg_url is not None, "use the stack_pg fixture for the oracle"
        settings = oracle_service.settings_cls(
            database_url=self.pg_url,
            amqp_url=self.amqp_url,
            mode="devnet",
            key_file=self.tmp / "oracle.key",
            price_sources=["simulated"],
            min_sources=1,
            expiry_schedule="every:60s",
            announce_ahead=2,
            tick_s=0.5,
            index_price_interval_s=0.5,
            **overrides,
        )
        return await self._start(ServiceRunner(oracle_service, settings))

    async def orderbook(self, **overrides: Any) -> ServiceRunner:
        """The real order book service; ``market(runner)`` names its first open market."""
        from tentenone_orderbook.service import service as orderbook_service

        assert self.pg_url is not None, "use the stack_pg fixture for the order book"
        settings = orderbook_service.settings_cls(
            database_url=self.pg_url,
            amqp_url=self.amqp_url,
            house_traders=["house"],
            snapshot_interval_s=3600.0,
            **overrides,
        )
        return await self._start(ServiceRunner(orderbook_service, settings, serve_http=False))

    async def _start(self, runner: ServiceRunner) -> ServiceRunner:
        await runner.start()
        self.runners.append(runner)
        return runner

    async def stop(self) -> None:
        for runner in reversed(self.runners):
            await runner.stop(grace_s=3)


@pytest.fixture
async def stack(amqp_url: str, redis_prefix: str, tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(amqp_url, redis_prefix, tmp_path)
    yield s
    await s.stop()


@pytest.fixture
async def stack_pg(
    amqp_url: str, redis_prefix: str, tmp_path: Path, pg_url: str
) -> AsyncIterator[Stack]:
    s = Stack(amqp_url, redis_prefix, tmp_path, pg_url)
    yield s
    await s.stop()


@pytest.fixture
async def http_factory() -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(runner: ServiceRunner, **kwargs: Any) -> httpx.AsyncClient:
        assert runner.url is not None
        client = httpx.AsyncClient(base_url=runner.url, timeout=15, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


class WsClient:
    """A WebSocket client of the gateway that reads JSON messages, skipping heartbeats."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, runner: ServiceRunner, **kwargs: Any) -> WsClient:
        from websockets.asyncio.client import connect

        assert runner.url is not None
        url = runner.url.replace("http://", "ws://") + "/api/v1/ws"
        conn = await connect(url, proxy=None, compression=None, open_timeout=20, **kwargs)
        return cls(conn)

    async def send(self, **message: Any) -> None:
        await self.conn.send(json.dumps(message))

    async def recv(self, within: float = 15) -> dict[str, Any]:
        while True:
            raw = await asyncio.wait_for(self.conn.recv(), within)
            message: dict[str, Any] = json.loads(raw)
            if message["type"] != "heartbeat":
                return message

    async def expect(self, kind: str, within: float = 15, **fields: Any) -> dict[str, Any]:
        message = await self.recv(within)
        assert message["type"] == kind, message
        for key, value in fields.items():
            assert message.get(key) == value, message
        return message

    async def close(self) -> None:
        await self.conn.close()


class PrivateRedis:
    """A redis-server of the test's own (own port and directory), to kill and restart."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.base),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--logfile",
                str(self.base / "redis.log"),
            ],
            start_new_session=True,
        )
        wait_until_sync(self._pong, 20, what="private redis-server")

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed", pytrace=False)
    node = PrivateRedis(tmp_path_factory.mktemp("redis"))
    node.start()
    try:
        yield node
    finally:
        node.kill()
