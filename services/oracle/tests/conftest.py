"""Fixtures of the oracle's tests.

``client``: a bus client on the test's RabbitMQ vhost that collects every
``oracle.announced``, ``oracle.attested`` and ``oracle.index_price`` event.

``exchange_replay``: a real HTTP server on 127.0.0.1 (uvicorn, ephemeral port)
that answers the exchanges' endpoints with the recorded bodies in
``recorded/``. Real exchanges cannot be reached from the test machines; this
is the next best thing, exercising the adapters' real HTTP client, status and
JSON handling. Tests override single routes (another price, an HTTP error, a
slow answer) and read the request log.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tentenone.bus import Bus
from tentenone.bus.errors import BusUnavailable
from tentenone.bus.events import ReceivedEvent
from tentenone.wire.oracle import IndexPriceUpdated, OracleAnnounced, OracleAttested

RECORDED = Path(__file__).parent / "recorded"

DEFAULT_ROUTES = {
    "/api/v2/ticker/btcusd/": "bitstamp_ticker.json",
    "/api/v2/ohlc/btcusd/": "bitstamp_ohlc.json",
    "/0/public/Ticker": "kraken_ticker.json",
    "/0/public/OHLC": "kraken_ohlc.json",
    "/products/BTC-USD/ticker": "coinbase_ticker.json",
    "/products/BTC-USD/candles": "coinbase_candles.json",
}


@dataclass
class _Answer:
    body: bytes
    status: int = 200
    delay_s: float = 0.0


@dataclass
class ReplayServer:
    url: str = ""
    answers: dict[str, _Answer] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def reset(self) -> None:
        self.answers = {p: _Answer((RECORDED / f).read_bytes()) for p, f in DEFAULT_ROUTES.items()}
        self.requests.clear()

    def answer(self, path: str, body: bytes | str, status: int = 200, delay_s: float = 0) -> None:
        raw = body.encode() if isinstance(body, str) else body
        self.answers[path] = _Answer(raw, status, delay_s)

    def recorded(self, name: str) -> str:
        return (RECORDED / name).read_text()

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        self.requests.append((path, dict(request.query_params)))
        answer = self.answers.get(path)
        if answer is None:
            return Response(b'{"error":"not found"}', status_code=404)
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        return Response(answer.body, answer.status, media_type="application/json")


@pytest.fixture(scope="session")
def _replay_server() -> Iterator[ReplayServer]:
    replay = ReplayServer()
    app = Starlette(routes=[Route("/{path:path}", replay.handle)])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    replay.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(200):  # bounded: up to 10 s for uvicorn to start
        if server.started:
            started.set()
            break
        started.wait(0.05)
    assert server.started, "replay server did not start"
    yield replay
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def exchange_replay(_replay_server: ReplayServer) -> ReplayServer:
    _replay_server.reset()
    return _replay_server


async def start_with_retries(start: Callable[[], Awaitable[object]], tries: int = 3) -> None:
    """Connect to the shared broker, which can be slow to accept under load: bounded tries."""
    for attempt in range(tries):
        try:
            await start()
            return
        except BusUnavailable:
            if attempt == tries - 1:
                raise


class Collected:
    def __init__(self) -> None:
        self.announced: list[OracleAnnounced] = []
        self.attested: list[OracleAttested] = []
        self.prices: list[IndexPriceUpdated] = []

    async def on_announced(self, event: ReceivedEvent[OracleAnnounced]) -> None:
        self.announced.append(event.payload)

    async def on_attested(self, event: ReceivedEvent[OracleAttested]) -> None:
        self.attested.append(event.payload)

    async def on_price(self, event: ReceivedEvent[IndexPriceUpdated]) -> None:
        self.prices.append(event.payload)


@pytest.fixture
async def client(amqp_url: str) -> AsyncIterator[tuple[Bus, Collected]]:
    bus = Bus.for_url("tt-oracle-client", amqp_url)
    await start_with_retries(bus.start)
    seen = Collected()
    await bus.subscribe(OracleAnnounced, seen.on_announced, name="seen_announced")
    await bus.subscribe(OracleAttested, seen.on_attested, name="seen_attested")
    await bus.subscribe(IndexPriceUpdated, seen.on_price, name="seen_prices")
    yield bus, seen
    await bus.close()
