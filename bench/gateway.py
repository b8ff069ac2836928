"""The gateway: authenticated order placements end to end, and book updates to 1,000 sockets.

(a) Placements/s: ``POST /api/v1/orders`` with a session token, through the
gateway (auth, rate limits in Redis, validation) to the order book service
over AMQP RPC (its batched commit in PostgreSQL) and back; against a bare
FastAPI route returning a constant (``bench/_bare_app.py``) under the same
uvicorn settings, same client, same concurrency, same run. The gateway, the
order book and the bare app each run as their own process; the client is a
minimal HTTP/1.1 client on keep-alive connections (so the client costs the
same for both). Orders rest (buys below, sells above the touch): one book
delta each.

(b) Book change to delivery: 1,000 WebSocket subscribers of ``book:<market>``
(in this process); for each of ``--updates`` new price levels, the delay from
sending the placement to each subscriber receiving the delta, p50/p99 over
every (update, subscriber).

    python -m bench gateway              # full run, updates bench/RESULTS.md
    python -m bench.gateway --quick      # short run, prints only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench._report import machine, write_section
from tentenone.oracle import schnorr
from tentenone.testing import postgres
from tentenone.testing.amqp import PrivateRabbit, VhostPool, vhost_url

REDIS_URL = os.environ.get("TENTENONE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_OPEN = "1000000000"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(
    args: list[str], env: dict[str, str], profile: str | None = None
) -> subprocess.Popen[bytes]:
    name = args[-1].rsplit(".", 1)[-1]
    log = open(f"/tmp/bench-gateway-{name}.log", "wb")  # noqa: SIM115
    # cProfile writes its file when the process ends on SIGTERM (a normal exit).
    prof = ["-m", "cProfile", "-o", f"{profile}/{name}.prof"] if profile else []
    return subprocess.Popen(
        [sys.executable, *prof, *args],
        # Let the processes keep their bytecode: compiling every import again is slow.
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "", **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def _ready(url: str, within: float = 300) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {within} s")


class _Conn:
    """One keep-alive HTTP/1.1 connection: write a request, read the whole response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> _Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, path: str, body: bytes, token: str | None) -> tuple[int, bytes]:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: bench\r\n{auth}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return int(head[9:12]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def _order(market: str, i: int) -> bytes:
    buy = i % 2 == 0
    step = (i // 2) % 1000
    cents = 5_900_000 - step * 50 if buy else 6_100_000 + step * 50
    return json.dumps(
        {
            "market": market,
            "side": "buy" if buy else "sell",
            "quantity": 1,
            "leverage": 2,
            "price": f"{cents // 100}.{cents % 100:02d}",
            "client_order_id": f"b-{uuid.uuid4().hex[:20]}",
            "available_margin_sat": 10**12,
        }
    ).encode()


async def _load(
    port: int, path: str, bodies: list[bytes], tokens: list[str | None], concurrency: int
) -> tuple[float, list[float]]:
    """Requests/s and each request's delay (s); every answer must be 2xx."""
    conns = [await _Conn.open(port) for _ in range(concurrency)]
    lat: list[float] = []
    next_i = 0

    async def worker(conn: _Conn) -> None:
        nonlocal next_i
        while next_i < len(bodies):
            i = next_i
            next_i += 1
            t = time.perf_counter()
            status, body = await conn.post(path, bodies[i], tokens[i % len(tokens)])
            lat.append(time.perf_counter() - t)
            if not 200 <= status < 300:
                raise RuntimeError(f"{path}: {status} {body[:300]!r}")

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - start
    for c in conns:
        c.close()
    return len(bodies) / elapsed, lat


async def _sign_in(http: httpx.AsyncClient) -> str:
    secret = secrets.token_bytes(32)
    public = schnorr.public_key(secret).hex()
    challenge = (await http.post("/api/v1/auth/challenge", json={"public_key": public})).json()
    signature = schnorr.sign(secret, bytes.fromhex(challenge["digest"])).hex()
    reply = await http.post(
        "/api/v1/auth/session",
        json={"public_key": public, "nonce": challenge["nonce"], "signature": signature},
    )
    reply.raise_for_status()
    token: str = reply.json()["token"]
    return token


async def _subscriber(port: int, channel: str, got: dict[int, list[float]]) -> Any:
    from websockets.asyncio.client import connect

    ws = await connect(
        f"ws://127.0.0.1:{port}/api/v1/ws", proxy=None, compression=None, open_timeout=60
    )
    await ws.send(json.dumps({"op": "subscribe", "channels": [channel]}))
    while json.loads(await ws.recv())["type"] != "subscribed":
        pass

    async def read() -> None:
        async for raw in ws:
            t = time.perf_counter()
            if isinstance(raw, str) and raw.startswith('{"type":"update"'):
                got.setdefault(json.loads(raw)["seq"], []).append(t)

    return ws, asyncio.create_task(read())


async def _fanout(
    port: int, market: str, token: str, subscribers: int, updates: int
) -> tuple[list[float], float]:
    channel = f"book:{market}"
    got: dict[int, list[float]] = {}
    clients: list[Any] = []
    t_connect = time.perf_counter()
    for _ in range(0, subscribers, 100):
        clients += await asyncio.gather(*(_subscriber(port, channel, got) for _ in range(100)))
    t_connect = time.perf_counter() - t_connect
    conn = await _Conn.open(port)
    delays: list[float] = []
    try:
        for k in range(updates):
            before = set(got)
            cents = 5_950_000 + k * 50  # a new bid level each time: one delta
            body = json.loads(_order(market, 0))
            body["price"] = f"{cents // 100}.{cents % 100:02d}"
            t0 = time.perf_counter()
            status, text = await conn.post("/api/v1/orders", json.dumps(body).encode(), token)
            assert status == 201, text
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                new = set(got) - before
                if new and len(got[max(new)]) >= subscribers:
                    break
                await asyncio.sleep(0.005)
            (seq,) = set(got) - before
            delays += [t - t0 for t in got[seq]]
            await asyncio.sleep(0.05)
    finally:
        conn.close()
        for ws, task in clients:
            task.cancel()
            await ws.close()
    return delays, t_connect


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class _Broker:
    """A fresh vhost on the shared RabbitMQ, or a RabbitMQ node of the run's own."""

    def __init__(self, private: bool) -> None:
        self._node = PrivateRabbit(Path(tempfile.mkdtemp(prefix="bench-gw-"))) if private else None
        self._pool = None if private else VhostPool()
        self._vhost = ""

    def start(self) -> str:
        if self._node is not None:
            try:
                self._node.start()
            except BaseException:
                self.stop()
                raise
            return self._node.url
        assert self._pool is not None
        self._vhost = self._pool.acquire()
        return vhost_url(self._vhost)

    def stop(self) -> None:
        if self._node is not None:
            self._node.stop()
            shutil.rmtree(self._node.base, ignore_errors=True)
        if self._pool is not None:
            self._pool.release(self._vhost)
            self._pool.close()


async def _run(
    calls: int,
    concurrency: int,
    subscribers: int,
    updates: int,
    profile: str | None = None,
    private_broker: bool = False,
) -> dict[str, Any]:
    broker = _Broker(private_broker)
    amqp = broker.start()
    db_name = postgres.create_database()
    pg = postgres.async_url(db_name)
    gw_port, ob_port, bare_port = _port(), _port(), _port()
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    common = {"TENTENONE_AMQP_URL": amqp, "TENTENONE_LOG_LEVEL": "WARNING"}
    procs = [
        _spawn(
            ["-m", "tentenone_orderbook"],
            {
                **common,
                "TENTENONE_ORDERBOOK_DATABASE_URL": pg,
                "TENTENONE_ORDERBOOK_HTTP_PORT": str(ob_port),
                "TENTENONE_ORDERBOOK_SNAPSHOT_INTERVAL_S": "3600",
            },
            profile,
        ),
        _spawn(
            ["-m", "tentenone_gateway"],
            {
                **common,
                "TENTENONE_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:////tmp/{prefix[:-1]}.db",
                "TENTENONE_GATEWAY_HTTP_PORT": str(gw_port),
                "TENTENONE_REDIS_URL": REDIS_URL,
                "TENTENONE_GATEWAY_REDIS_PREFIX": prefix,
                **{
                    f"TENTENONE_GATEWAY_{k}": _OPEN
                    for k in (
                        "IP_BURST",
                        "IP_PER_S",
                        "KEY_BURST",
                        "KEY_PER_S",
                        "AUTH_BURST",
                        "AUTH_PER_S",
                    )
                },
            },
            profile,
        ),
        _spawn(["-m", "bench._bare_app", str(bare_port)], {}),
    ]
    try:
        await _ready(f"http://127.0.0.1:{ob_port}/readyz")
        await _ready(f"http://127.0.0.1:{gw_port}/readyz")
        await _ready(f"http://127.0.0.1:{gw_port}/api/v1/markets")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gw_port}", timeout=30) as http:
            market = (await http.get("/api/v1/markets")).json()["markets"][0]["market"]
            tokens: list[str | None] = [await _sign_in(http) for _ in range(8)]
        bodies = [_order(market, i) for i in range(calls)]
        warm = [_order(market, i) for i in range(200)]
        # One call alone first: the gateway declares its RPC reply queue on first use.
        await _load(gw_port, "/api/v1/orders", warm[:1], tokens, 1)
        await _load(gw_port, "/api/v1/orders", warm, tokens, concurrency)
        await _load(bare_port, "/const", warm, [None], concurrency)
        bare, bare_lat = await _load(bare_port, "/const", bodies, [None], concurrency)
        cpu_before = [_cpu_s(p.pid) for p in procs[:2]]
        place, place_lat = await _load(gw_port, "/api/v1/orders", bodies, tokens, concurrency)
        cpu = [(_cpu_s(p.pid) - b) / calls * 1000 for p, b in zip(procs, cpu_before, strict=False)]
        token = tokens[0]
        assert token is not None
        delays, t_connect = await _fanout(gw_port, market, token, subscribers, updates)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        broker.stop()
        postgres.drop_database(db_name)
    return {
        "bare": bare,
        "bare_lat": bare_lat,
        "place": place,
        "place_lat": place_lat,
        "cpu_ms": cpu,
        "delays": delays,
        "t_connect": t_connect,
    }


def _row(name: str, rate: float, lat: list[float]) -> str:
    return f"| {name} | {rate:,.0f} | {_pct(lat, 0.5):.1f} | {_pct(lat, 0.99):.1f} |"


def _section(r: dict[str, Any], args: argparse.Namespace, stamp: str) -> str:
    ratio = r["place"] / r["bare"]
    command = (
        "python -m bench.gateway --private-broker"
        if args.private_broker
        else ("python -m bench gateway")
    )
    d = r["delays"]
    return f"""## gateway: placements end to end, book updates to 1,000 WebSockets

{stamp} on {machine()}; `{command}`
({args.calls:,} requests each, {args.concurrency} keep-alive connections; gateway, order book
and bare app each a process of their own; Redis, RabbitMQ, PostgreSQL local).

| | requests/s | p50 ms | p99 ms |
|---|---:|---:|---:|
{_row("bare FastAPI route, constant", r["bare"], r["bare_lat"])}
{_row("authenticated placement, gateway -> order book RPC -> reply", r["place"], r["place_lat"])}
| **ratio** | **{ratio:.2f}x** | | |

CPU per placement: gateway {r["cpu_ms"][0]:.1f} ms, order book {r["cpu_ms"][1]:.1f} ms
(user + system time of each process over the placement run, divided by the requests).

Book change to delivery at {args.subscribers:,} subscribers of `book:<market>` ({args.updates}
updates, {len(d):,} deliveries; from sending the placement to each socket's receipt:
REST, RPC, commit, outbox relay, AMQP, Redis history and fan-out, WebSocket):
p50 {_pct(d, 0.5):.1f} ms, p99 {_pct(d, 0.99):.1f} ms, max {max(d) * 1000:.1f} ms; mean
{statistics.mean(d) * 1000:.1f} ms. {args.subscribers:,} sockets connected and subscribed in
{r["t_connect"]:.1f} s.
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.gateway", description=__doc__)
    parser.add_argument("--calls", type=int, default=3_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--subscribers", type=int, default=1_000)
    parser.add_argument("--updates", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="a short run, no file")
    parser.add_argument(
        "--profile", metavar="DIR", help="run the gateway and the order book under cProfile"
    )
    parser.add_argument(
        "--private-broker",
        action="store_true",
        help="a RabbitMQ node of the run's own instead of a vhost on the shared one",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.subscribers, args.updates = 500, 200, 10
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    r = asyncio.run(
        _run(
            args.calls,
            args.concurrency,
            args.subscribers,
            args.updates,
            args.profile,
            args.private_broker,
        )
    )
    section = _section(r, args, stamp)
    print(section)
    if not args.quick:
        write_section("gateway", section)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
