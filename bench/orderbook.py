"""The order book: the matching engine alone, and persisted placement through RPC.

(a) The engine alone, one core, a realistic mix, against a bare-bones reference book.
The mix: a book of 10,000 resting orders near the touch, then about 60%
limit orders near the touch (some cross), 30% cancels of live orders, 10%
market orders. The sequence is generated once (with the reference book
deciding which orders are live) and replayed, untimed setup apart, by both
engines; both must produce the same number of fills and the same book.

(b) Persisted placement through RPC: the order book service (in this
process) on a fresh PostgreSQL database and RabbitMQ vhost, limit orders
around the touch (about half of them cross) from concurrent callers, each
reply after the batch's commit (orders, fills, accounts, outbox events);
against a bare aio-pika RPC echo on the same broker, same callers, same run.

    python -m bench orderbook            # full run, updates bench/RESULTS.md
    python -m bench.orderbook --quick    # short run, prints only
    python -m bench.orderbook --engine-only | --rpc-only
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import cProfile
import gc
import io
import os
import pstats
import random
import re
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._report import machine, write_section
from tentenone.bus import Bus
from tentenone.service import ServiceRunner
from tentenone.testing import postgres
from tentenone.testing.amqp import VhostPool, vhost_url
from tentenone.wire import orderbook as wire
from tentenone_orderbook.market import MarketConfig
from tentenone_orderbook.matching import MatchingEngine
from tentenone_orderbook.orders import (
    CancelOrder,
    DeclareMargin,
    OrderType,
    PlaceOrder,
    Side,
    TimeInForce,
)

__all__ = ["main"]

_MID = 6_000_000  # 60,000.00 USD in cents
_TICK = 50
_BOOK = 10_000
_TRADERS = 100
_LEVERAGE = 5
_RESULTS = Path(__file__).with_name("RESULTS.md")

# ---------------------------------------------------------------- reference book


class _RefBook:
    """Bare-bones price-level book: dicts of deques, bisect over levels, tuples as events.

    Side 0 is bids, 1 asks; keys ascending (bids: price, asks: -price) so the
    best level is last. Cancelled orders leave the id dict and are skipped
    lazily in the deques.
    """

    def __init__(self) -> None:
        self.queues: tuple[dict[int, deque[int]], dict[int, deque[int]]] = ({}, {})
        self.qty: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.keys: tuple[list[int], list[int]] = ([], [])
        self.orders: dict[int, list[int]] = {}  # id -> [side, price, remaining]
        self.seq = 0
        self.fills = 0

    def best(self, side: int) -> int | None:
        keys = self.keys[side]
        if not keys:
            return None
        return keys[-1] if side == 0 else -keys[-1]

    def limit(self, oid: int, side: int, price: int, qty: int) -> list[tuple[Any, ...]]:
        events: list[tuple[Any, ...]] = []
        qty = self._match(oid, side, price, qty, events)
        if qty:
            queues, levels = self.queues[side], self.qty[side]
            q = queues.get(price)
            if q is None:
                queues[price] = q = deque()
                levels[price] = 0
                bisect.insort(self.keys[side], price if side == 0 else -price)
            q.append(oid)
            self.orders[oid] = [side, price, qty]
            levels[price] += qty
            self.seq += 1
            events.append((self.seq, side, price, levels[price]))
        return events

    def market(self, oid: int, side: int, qty: int) -> list[tuple[Any, ...]]:
        events: list[tuple[Any, ...]] = []
        self._match(oid, side, None, qty, events)
        return events

    def _match(
        self, oid: int, side: int, limit: int | None, qty: int, events: list[tuple[Any, ...]]
    ) -> int:
        opp = 1 - side
        keys, queues, lq, orders = self.keys[opp], self.queues[opp], self.qty[opp], self.orders
        while qty and keys:
            k = keys[-1]
            price = k if opp == 0 else -k
            if limit is not None and (price > limit if side == 0 else price < limit):
                break
            q = queues[price]
            while qty and q:
                mid = q[0]
                o = orders.get(mid)
                if o is None:
                    q.popleft()
                    continue
                take = qty if qty < o[2] else o[2]
                qty -= take
                o[2] -= take
                lq[price] -= take
                events.append(("fill", mid, oid, price, take))
                self.fills += 1
                if o[2] == 0:
                    q.popleft()
                    del orders[mid]
            self.seq += 1
            events.append((self.seq, opp, price, lq[price]))
            if lq[price] == 0:
                keys.pop()
                del queues[price]
                del lq[price]
        return qty

    def cancel(self, oid: int) -> list[tuple[Any, ...]] | None:
        o = self.orders.pop(oid, None)
        if o is None:
            return None
        side, price, rem = o
        lq = self.qty[side]
        lq[price] -= rem
        self.seq += 1
        events = [(self.seq, side, price, lq[price])]
        if lq[price] == 0:
            del self.queues[side][price]
            del lq[price]
            keys = self.keys[side]
            del keys[bisect.bisect_left(keys, price if side == 0 else -price)]
        return events


# ------------------------------------------------------------------ the workload

_Op = tuple[Any, ...]  # ("L", oid, side, price, qty) | ("C", oid) | ("M", oid, side, qty)


def _initial(rng: random.Random) -> list[_Op]:
    ops: list[_Op] = []
    for i in range(_BOOK):
        side = i % 2
        off = int(rng.expovariate(1 / 40)) + 1
        price = _MID - off * _TICK if side == 0 else _MID + off * _TICK
        ops.append(("L", i + 1, side, price, rng.randint(1, 100) * 10))
    return ops


def _generate(seed: int, n_ops: int) -> tuple[list[_Op], list[_Op]]:
    """The initial book and ``n_ops`` operations; the reference book tracks what is live."""
    rng = random.Random(seed)
    setup = _initial(rng)
    book = _RefBook()
    for op in setup:
        book.limit(*op[1:])
    live = [op[1] for op in setup]
    oid = len(setup)
    ops: list[_Op] = []
    for _ in range(n_ops):
        r = rng.random()
        if r < 0.6:
            side = rng.randrange(2)
            best = book.best(side) or _MID
            off = int(rng.expovariate(1 / 8)) - 1  # -1: one tick through the touch
            price = best - off * _TICK if side == 0 else best + off * _TICK
            oid += 1
            op: _Op = ("L", oid, side, price, rng.randint(1, 100) * 10)
            book.limit(*op[1:])
            live.append(oid)
        elif r < 0.9:
            while True:
                j = rng.randrange(len(live))
                victim = live[j]
                live[j] = live[-1]
                live.pop()
                if victim in book.orders:
                    break
            op = ("C", victim)
            book.cancel(victim)
        else:
            oid += 1
            op = ("M", oid, rng.randrange(2), rng.randint(1, 300) * 10)
            book.market(*op[1:])
        ops.append(op)
    return setup, ops


def _ref_calls(book: _RefBook, ops: list[_Op]) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
    by_kind = {"L": book.limit, "C": book.cancel, "M": book.market}
    return [(by_kind[op[0]], op[1:]) for op in ops]


_SIDES = (Side.BUY, Side.SELL)


def _trader(side: int, oid: int) -> str:
    # Buyers and sellers are different traders: no self-trade, as in the reference.
    return f"{'b' if side == 0 else 's'}{oid % _TRADERS}"


def _command(op: _Op) -> PlaceOrder | CancelOrder:
    kind = op[0]
    if kind == "L":
        _, oid, side, price, qty = op
        return PlaceOrder(_trader(side, oid), _SIDES[side], qty, _LEVERAGE, price=price)
    if kind == "M":
        _, oid, side, qty = op
        return PlaceOrder(
            _trader(side, oid),
            _SIDES[side],
            qty,
            _LEVERAGE,
            order_type=OrderType.MARKET,
            time_in_force=TimeInForce.IOC,
        )
    return CancelOrder("", op[1])  # the owner is filled in by _engine_calls


def _config() -> MarketConfig:
    return MarketConfig("BTCUSD-BENCH", tick_size=_TICK, max_exposure=10**12)


def _engine(setup: list[_Op]) -> MatchingEngine:
    engine = MatchingEngine(_config())
    for side in (0, 1):
        for k in range(_TRADERS):
            engine.declare_margin(DeclareMargin(_trader(side, k), 10**15))
    for op in setup:
        engine.place(_command(op))  # type: ignore[arg-type]
    return engine


def _engine_calls(
    engine: MatchingEngine, setup: list[_Op], ops: list[_Op]
) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
    owner: dict[int, str] = {}
    for op in (*setup, *ops):
        if op[0] != "C":
            owner[op[1]] = _trader(op[2], op[1])
    calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
    for op in ops:
        if op[0] == "C":
            calls.append((engine.cancel, (CancelOrder(owner[op[1]], op[1]),)))
        else:
            calls.append((engine.place, (_command(op),)))
    return calls


# --------------------------------------------------------------------- measuring


def _throughput(calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> float:
    """Operations per second of this thread's CPU time (the machine is shared)."""
    gc.collect()
    start = time.thread_time()
    for fn, args in calls:
        fn(*args)
    return len(calls) / (time.thread_time() - start)


def _latencies(calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[int]:
    clock = time.perf_counter_ns
    out = []
    gc.collect()
    for fn, args in calls:
        t0 = clock()
        fn(*args)
        out.append(clock() - t0)
    return out


def _pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def _row(name: str, rates: list[float], lat: list[int]) -> str:
    best, median = max(rates), statistics.median(rates)
    p50, p99 = _pct(lat, 0.5), _pct(lat, 0.99)
    return f"| {name} | {best:,.0f} | {median:,.0f} | {p50:.1f} µs | {p99:.1f} µs |"


def _profile(setup: list[_Op], ops: list[_Op], top: int) -> str:
    engine = _engine(setup)
    calls = _engine_calls(engine, setup, ops)
    profiler = cProfile.Profile()
    profiler.enable()
    for fn, args in calls:
        fn(*args)
    profiler.disable()
    return _profile_text(profiler, top)


def _profile_text(profiler: cProfile.Profile, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    return "\n".join(
        re.sub(r"/\S*/site-packages/|\S*/(services/\w+|libs/\w+)/src/", "", ln)
        for ln in lines[start:]
    )


# ------------------------------------------------------- (b) placement through RPC


def _placements(market: str, n: int) -> list[wire.PlaceOrderRequest]:
    """Limit orders a tick or two either side of the middle: about half cross."""
    rng = random.Random(11)
    out = []
    for i in range(n):
        side = "buy" if i % 2 else "sell"
        off = rng.randint(-2, 2) * _TICK
        out.append(
            wire.PlaceOrderRequest(
                market=market,
                trader_id=f"{side[0]}{i % _TRADERS}",
                side=side,
                quantity=rng.randint(1, 100) * 10,
                leverage=_LEVERAGE,
                price=_MID + off,
                client_order_id=f"bench-{i}",
                available_margin_sat=10**14,
            )
        )
    return out


@dataclass
class _Calls:
    """One timed series of calls: wall rate, this process's CPU per call, latencies."""

    rate: float
    cpu_ms: float
    lat: list[int]


async def _call_all(call: Callable[[Any], Any], items: list[Any], concurrency: int) -> _Calls:
    lat: list[int] = []
    todo = iter(items)
    clock = time.perf_counter_ns

    async def caller() -> None:
        for item in todo:
            t0 = clock()
            await call(item)
            lat.append(clock() - t0)

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return _Calls(len(items) / wall, cpu / len(items) * 1000, lat)


async def _bare_echo(url: str, calls: int, concurrency: int) -> _Calls:
    """A bare aio-pika RPC echo (exclusive reply queue, correlation ids), same callers."""
    import aio_pika
    from aio_pika.abc import AbstractIncomingMessage

    conn = await aio_pika.connect_robust(url)
    try:
        server_ch = await conn.channel()
        await server_ch.set_qos(prefetch_count=concurrency * 2)
        requests = await server_ch.declare_queue("bench-orderbook-echo", auto_delete=True)

        async def serve(message: AbstractIncomingMessage) -> None:
            await server_ch.default_exchange.publish(
                aio_pika.Message(message.body, correlation_id=message.correlation_id),
                routing_key=message.reply_to or "",
            )
            await message.ack()

        await requests.consume(serve)
        client_ch = await conn.channel()
        replies = await client_ch.declare_queue(exclusive=True, auto_delete=True)
        pending: dict[str, asyncio.Future[bytes]] = {}

        async def on_reply(message: AbstractIncomingMessage) -> None:
            await message.ack()
            fut = pending.pop(message.correlation_id or "", None)
            if fut is not None:
                fut.set_result(message.body)

        await replies.consume(on_reply)
        loop = asyncio.get_running_loop()
        # The same body as a placement request: the broker moves as many bytes.
        body = (
            wire.PlaceOrderRequest(
                market="btcusd1234567890",
                trader_id="b1",
                side="buy",
                quantity=100,
                leverage=5,
                price=_MID,
                client_order_id="bench-0",
                available_margin_sat=10**14,
            )
            .model_dump_json()
            .encode()
        )

        async def echo(n: int) -> None:
            cid = f"{n}"
            fut: asyncio.Future[bytes] = loop.create_future()
            pending[cid] = fut
            await client_ch.default_exchange.publish(
                aio_pika.Message(body, correlation_id=cid, reply_to=replies.name),
                routing_key=requests.name,
            )
            await asyncio.wait_for(fut, 30)

        await _call_all(echo, list(range(-200, 0)), concurrency)  # warm up
        return await _call_all(echo, list(range(calls)), concurrency)
    finally:
        await conn.close()


async def _placement(
    url: str, pg_url: str, calls: int, concurrency: int, profile: bool, relay: bool = True
) -> tuple[_Calls, int, str]:
    """Placements measured; ``relay=False`` pauses the outbox relay (its share of the cost)."""
    from tentenone_orderbook.service import service

    settings = service.settings_cls(
        database_url=pg_url, amqp_url=url, house_traders=["house"], snapshot_interval_s=3600.0
    )
    runner = ServiceRunner(service, settings, serve_http=False)
    await runner.start()
    client = Bus.for_url("bench-orderbook-client", url)
    await client.start()
    try:
        listed = await client.request(wire.LIST_MARKETS, wire.ListMarketsRequest(), timeout_s=30)
        market = listed.markets[0].market
        extra = 500 if profile else 0
        orders = _placements(market, 200 + calls + extra)
        fills = 0

        async def place(req: wire.PlaceOrderRequest) -> None:
            nonlocal fills
            reply = await client.request(wire.PLACE_ORDER, req, timeout_s=60)
            fills += len(reply.fills)

        if not relay:
            assert runner.relay is not None
            await runner.relay.stop()  # the events stay in the outbox
        await _call_all(place, orders[:200], concurrency)  # warm up: pools, reply queue
        measured = await _call_all(place, orders[200 : 200 + calls], concurrency)
        measured_fills, text = fills, ""
        if profile:  # a separate pass: the profiler slows everything down
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            await _call_all(place, orders[200 + calls :], concurrency)
            profiler.disable()
            text = _profile_text(profiler, int(os.environ.get("OB_TOP", "16")))
        return measured, measured_fills, text
    finally:
        await client.close()
        await runner.stop(grace_s=5)


async def _rpc_run(calls: int, concurrency: int, profile: bool) -> dict[str, Any]:
    pool = VhostPool()
    vhost = pool.acquire()
    db_name = postgres.create_database()
    url, pg_url = vhost_url(vhost), postgres.async_url(db_name)
    try:
        echo = await _bare_echo(url, calls, concurrency)
        place, fills, text = await _placement(url, pg_url, calls, concurrency, profile)
        # The same orders on a fresh database, the relay paused: what the relay costs.
        other = postgres.create_database()
        try:
            paused, _, _ = await _placement(
                url, postgres.async_url(other), calls, concurrency, False, relay=False
            )
        finally:
            postgres.drop_database(other)
    finally:
        pool.release(vhost)
        pool.close()
        postgres.drop_database(db_name)
    return {"echo": echo, "place": place, "paused": paused, "fills": fills, "profile": text}


def _invocation() -> str:
    import sys

    args = sys.argv[1:]
    if sys.argv[0].endswith("bench/orderbook.py"):
        return " ".join(["python -m bench.orderbook", *args])
    return " ".join(["python -m bench", *args])


def _ms(lat: list[int], q: float) -> str:
    return f"{_pct(lat, q) / 1000:.1f} ms"


def _rpc_section(r: dict[str, Any], calls: int, concurrency: int, stamp: str) -> str:
    place: _Calls = r["place"]
    echo: _Calls = r["echo"]
    ratio = place.rate / echo.rate
    rows = "\n".join(
        f"| {name} | {c.rate:,.0f} | {c.cpu_ms:.2f} ms | {_ms(c.lat, 0.5)} | {_ms(c.lat, 0.99)} |"
        for name, c in (
            ("place_order (`tentenone_orderbook`)", place),
            ("place_order, outbox relay paused (diagnostic)", r["paused"]),
            ("bare aio-pika echo", echo),
        )
    )
    text = f"""## orderbook: persisted placement through RPC

{stamp} on {machine()}; `{_invocation()}`
({calls:,} limit orders from {concurrency} concurrent callers on one bus connection, after
200 to warm up; {r["fills"]:,} fills; each reply after its batch committed orders, fills,
accounts and outbox events to PostgreSQL; the order book service, its outbox relay and the
callers in the bench's process; the echo: the same callers, bodies of the same size).

| | calls/s | CPU per call (this process) | latency p50 | latency p99 |
|---|---:|---:|---:|---:|
{rows}

Ratio to the echo: **{ratio:.2f}x** in calls/s, {echo.cpu_ms / place.cpu_ms:.2f}x in CPU per
call (goal >= 0.5x). With the relay paused (the same service; its events wait in the
outbox; a fresh database, the same orders): {r["paused"].rate / echo.rate:.2f}x; the difference
is the relay publishing each order's events (about four per placement) in the same process.
"""
    if r["profile"]:
        text += f"""
Where this process's CPU goes while placing (a separate pass of 500 orders under cProfile,
process time, by own time; coroutine resumptions count as calls):

```
{r["profile"]}
```
"""
    return text


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.orderbook", description=__doc__)
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--calls", type=int, default=4_000, help="RPC placements")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent RPC callers")
    parser.add_argument("--quick", action="store_true", help="a short run, no file")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--engine-only", action="store_true")
    only.add_argument("--rpc-only", action="store_true")
    args = parser.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections: list[tuple[str, str]] = []
    if not args.rpc_only:
        section = _engine_section(args, stamp)
        if section is None:
            return 1
        sections.append(("orderbook", section))
    if not args.engine_only:
        calls = 1_000 if args.quick else args.calls
        r = asyncio.run(_rpc_run(calls, args.concurrency, profile=not args.quick))
        sections.append(("orderbook-rpc", _rpc_section(r, calls, args.concurrency, stamp)))
    for _, section in sections:
        print(section)
    if not args.quick:
        for key, section in sections:
            write_section(key, section)
    return 0


def _engine_section(args: argparse.Namespace, stamp: str) -> str | None:
    n_ops, runs = (20_000, 2) if args.quick else (args.ops, args.runs)

    setup, ops = _generate(args.seed, n_ops)
    mix = {k: sum(1 for op in ops if op[0] == k) / len(ops) for k in "LCM"}
    ours: list[float] = []
    ref: list[float] = []
    fills = (0, 0)
    for _ in range(runs):  # interleaved so that machine noise hits both alike
        rbook = _RefBook()
        for op in setup:
            rbook.limit(*op[1:])
        rbook.fills = 0
        ref.append(_throughput(_ref_calls(rbook, ops)))
        engine = _engine(setup)
        next_trade = engine.snapshot().next_trade_id
        ours.append(_throughput(_engine_calls(engine, setup, ops)))
        fills = (rbook.fills, engine.snapshot().next_trade_id - next_trade)
        if fills[0] != fills[1] or len(rbook.orders) != len(engine.snapshot().orders):
            print(f"MISMATCH: fills ref/ours {fills}, resting {len(rbook.orders)}")
            return None

    engine = _engine(setup)
    lat = _latencies(_engine_calls(engine, setup, ops))
    rbook = _RefBook()
    for op in setup:
        rbook.limit(*op[1:])
    ref_lat = _latencies(_ref_calls(rbook, ops))
    best_ours, best_ref = max(ours), max(ref)
    med_ours, med_ref = statistics.median(ours), statistics.median(ref)
    profile = _profile(setup, ops, 14)
    section = f"""## orderbook: matching engine alone

{stamp} on {machine()}; `{_invocation()}`
({n_ops:,} operations after a
{_BOOK:,}-order book, {runs} interleaved runs; mix: {mix["L"]:.0%} limit near the touch,
{mix["C"]:.0%} cancels, {mix["M"]:.0%} market; {fills[1]:,} fills per run, every fill and
book delta emitted as a typed event).

| | ops/s (best) | ops/s (median) | latency p50 | latency p99 |
|---|---:|---:|---:|---:|
{_row("engine (`MatchingEngine`)", ours, lat)}
{_row("bare-bones reference", ref, ref_lat)}

Ratio to the reference: **{best_ours / best_ref:.2f}x** (best), {med_ours / med_ref:.2f}x (median).
Goal: 300,000 ops/s, where the reference does about 650,000 (a ratio of 0.46).

Hot path (cProfile, one run, by own time):

```
{profile}
```
"""
    return section


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
