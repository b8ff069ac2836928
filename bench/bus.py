"""Bus throughput against bare aio-pika, on the same RabbitMQ, same message size, one run.

1. Events: outbox -> relay -> RabbitMQ -> idempotent consumer (inbox claim in
   a PostgreSQL transaction), timed from the relay's start with the events
   already committed, until the consumer has applied the last one; against
   bare aio-pika: publish with confirms (persistent, the same window) to a
   quorum queue and a consumer that acks each message.
2. RPC: our RPC whose handler commits a row to PostgreSQL, against a bare
   aio-pika echo (exclusive reply queue, correlation ids); same number of
   concurrent callers.

``python -m bench bus [--events N] [--calls N] [--concurrency N]``; the
section ``## bus`` of ``bench/RESULTS.md`` is replaced with this run's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from sqlalchemy import BigInteger, Column, String, Table, insert
from sqlmodel.ext.asyncio.session import AsyncSession

from bench._report import machine, tool_version, write_section
from tentenone.bus import Bus, ConsumerPolicy, ReceivedEvent, RpcCall
from tentenone.bus.idempotent import idempotent
from tentenone.bus.relay import OutboxRelay, enqueue
from tentenone.bus.transactional import serve_transactional
from tentenone.store import Database, service_registry
from tentenone.testing import postgres
from tentenone.testing.amqp import VhostPool, vhost_url
from tentenone.wire import Event, RpcMethod, WireModel

RESULTS = Path(__file__).with_name("RESULTS.md")
BODY_BYTES = 256


class BenchEvent(Event):
    event_type = "bench.tick"
    source = "bench-src"
    n: int
    pad: str


class Write(WireModel):
    n: int
    pad: str


class Written(WireModel):
    n: int


WRITE = RpcMethod("bench-rpc", "write", Write, Written)

_METADATA = service_registry().metadata
_ROWS = Table(
    "bench_rows",
    _METADATA,
    Column("id", String(64), primary_key=True),
    Column("n", BigInteger, nullable=False),
)


def _pad_for(n: int) -> str:
    """Padding that makes the JSON body of an event exactly BODY_BYTES long."""
    base = len(BenchEvent(n=n, pad="").to_json_bytes())
    return "x" * (BODY_BYTES - base)


# -- events -----------------------------------------------------------------------


async def bare_events(url: str, count: int, window: int) -> float:
    conn = await aio_pika.connect_robust(url)
    try:
        channel = await conn.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=128)
        queue = await channel.declare_queue(
            f"bench-bare-{uuid.uuid4().hex[:8]}",
            durable=True,
            arguments={"x-queue-type": "quorum"},
        )
        done = asyncio.Event()
        seen = 0

        async def on_message(message: AbstractIncomingMessage) -> None:
            nonlocal seen
            await message.ack()
            seen += 1
            if seen == count:
                done.set()

        await queue.consume(on_message)
        body = b"x" * BODY_BYTES
        pub = await conn.channel(publisher_confirms=True)
        started = time.perf_counter()
        for start in range(0, count, window):
            await asyncio.gather(
                *(
                    pub.default_exchange.publish(
                        aio_pika.Message(
                            body,
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            content_type="application/json",
                            message_id=str(uuid.uuid4()),
                        ),
                        routing_key=queue.name,
                    )
                    for _ in range(start, min(count, start + window))
                )
            )
        await asyncio.wait_for(done.wait(), 600)
        elapsed = time.perf_counter() - started
        await queue.delete(if_unused=False, if_empty=False)
        return count / elapsed
    finally:
        await conn.close()


async def our_events(url: str, pg_url: str, count: int, window: int) -> tuple[float, float]:
    """(events/s through outbox -> relay -> consumer, outbox write rate in events/s)."""
    src = Database(pg_url, service="bench-src", metadata=_METADATA)
    dst = Database(pg_url, service="bench-dst", metadata=_METADATA)
    await src.create_all()
    await dst.create_all()
    publisher = Bus.for_url("bench-src", url)
    consumer = Bus.for_url("bench-dst", url)
    await publisher.start()
    await consumer.start()
    try:
        applied = 0
        done = asyncio.Event()

        async def apply(session: AsyncSession, event: ReceivedEvent[BenchEvent]) -> None:
            nonlocal applied
            applied += 1
            if applied == count:
                done.set()

        single, batch = idempotent(dst, "bench", apply)
        await consumer.subscribe(
            BenchEvent, single, name="bench", batch_handler=batch, policy=ConsumerPolicy()
        )
        pad = _pad_for(0)
        written = time.perf_counter()
        for start in range(0, count, 100):
            async with src.transaction() as session:
                for n in range(start, min(count, start + 100)):
                    await enqueue(session, BenchEvent(n=n % 10, pad=pad))
        write_rate = count / (time.perf_counter() - written)
        relay = OutboxRelay(src, publisher, batch_size=window)
        started = time.perf_counter()
        relay.start()
        await asyncio.wait_for(done.wait(), 600)
        elapsed = time.perf_counter() - started
        await relay.stop()
        return count / elapsed, write_rate
    finally:
        await consumer.close()
        await publisher.close()
        await src.close()
        await dst.close()


# -- RPC --------------------------------------------------------------------------


async def bare_rpc(url: str, calls: int, concurrency: int) -> float:
    conn = await aio_pika.connect_robust(url)
    try:
        server_ch = await conn.channel()
        await server_ch.set_qos(prefetch_count=concurrency * 2)
        requests = await server_ch.declare_queue(
            f"bench-echo-{uuid.uuid4().hex[:8]}", auto_delete=True
        )

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
        body = b"x" * BODY_BYTES
        loop = asyncio.get_running_loop()

        async def caller(n: int) -> None:
            for _ in range(n):
                cid = uuid.uuid4().hex
                fut: asyncio.Future[bytes] = loop.create_future()
                pending[cid] = fut
                await client_ch.default_exchange.publish(
                    aio_pika.Message(body, correlation_id=cid, reply_to=replies.name),
                    routing_key=requests.name,
                )
                await asyncio.wait_for(fut, 30)

        started = time.perf_counter()
        await asyncio.gather(*(caller(calls // concurrency) for _ in range(concurrency)))
        return (calls // concurrency * concurrency) / (time.perf_counter() - started)
    finally:
        await conn.close()


async def our_rpc(url: str, pg_url: str, calls: int, concurrency: int, grouped: bool) -> float:
    """Our RPC, the handler inserting a row: grouped (``serve_transactional``, one
    transaction per group of waiting calls) or with a transaction per call."""
    db = Database(pg_url, service="bench-rpc", metadata=_METADATA, pool_size=concurrency)
    await db.create_all()
    server = Bus.for_url("bench-rpc", url)
    client = Bus.for_url("bench-client", url)
    await server.start()
    await client.start()
    try:

        async def insert_row(session: AsyncSession, req: Write) -> Written:
            conn = await session.connection()
            await conn.execute(insert(_ROWS).values(id=str(uuid.uuid4()), n=req.n))
            return Written(n=req.n)

        async def write_grouped(session: AsyncSession, req: Write, call: RpcCall) -> Written:
            return await insert_row(session, req)

        async def write_alone(req: Write, call: RpcCall) -> Written:
            async with db.transaction() as session:
                return await insert_row(session, req)

        if grouped:
            await serve_transactional(server, db, WRITE, write_grouped)
        else:
            await server.serve_typed(WRITE, write_alone)
        pad = "x" * (BODY_BYTES - len(b'{"args":[],"kwargs":{"n":0,"pad":""}}'))
        await client.request(WRITE, Write(n=0, pad=pad))  # warm up: reply queue, pool

        async def caller(n: int) -> None:
            for i in range(n):
                await client.request(WRITE, Write(n=i % 10, pad=pad), timeout_s=30)

        started = time.perf_counter()
        await asyncio.gather(*(caller(calls // concurrency) for _ in range(concurrency)))
        return (calls // concurrency * concurrency) / (time.perf_counter() - started)
    finally:
        await client.close()
        await server.close()
        await db.close()


# -- report -----------------------------------------------------------------------


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    """``args.rounds`` rounds, each measuring ours and the bare reference back to back, so
    that a change of the machine's load weighs on both sides of each ratio alike."""
    pool = VhostPool()
    vhost = pool.acquire()
    db_name = postgres.create_database()
    url, pg_url = vhost_url(vhost), postgres.async_url(db_name)
    rounds: list[dict[str, float]] = []
    try:
        for n in range(1, args.rounds + 1):
            bare_ev = await bare_events(url, args.events, args.window)
            ours_ev, write_rate = await our_events(url, pg_url, args.events, args.window)
            bare_rpc_rate = await bare_rpc(url, args.calls, args.concurrency)
            ours_rpc_rate = await our_rpc(url, pg_url, args.calls, args.concurrency, grouped=True)
            found = {
                "bare_events": bare_ev,
                "ours_events": ours_ev,
                "write_rate": write_rate,
                "bare_rpc": bare_rpc_rate,
                "ours_rpc": ours_rpc_rate,
                "events_ratio": ours_ev / bare_ev,
                "rpc_ratio": ours_rpc_rate / bare_rpc_rate,
            }
            print(
                f"round {n}/{args.rounds}: events {found['events_ratio']:.2f}x, "
                f"RPC {found['rpc_ratio']:.2f}x",
                flush=True,
            )
            rounds.append(found)
        per_call_rpc_rate = await our_rpc(url, pg_url, args.calls, args.concurrency, grouped=False)
    finally:
        pool.release(vhost)
        pool.close()
        postgres.drop_database(db_name)
    result: dict[str, Any] = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    result["per_call_rpc"] = per_call_rpc_rate
    for key in ("events_ratio", "rpc_ratio"):
        result[f"{key}_range"] = (min(r[key] for r in rounds), max(r[key] for r in rounds))
    return result


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench bus")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=500, help="publishes in flight")
    parser.add_argument("--calls", type=int, default=4_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="ours and bare, back to back")
    args = parser.parse_args(list(argv))
    host = machine(
        f"RabbitMQ {tool_version(['rabbitmqctl', 'version'])}",
        tool_version(["psql", "--version"]),
    )
    r = asyncio.run(_run(args))
    ev_ratio, rpc_ratio = r["events_ratio"], r["rpc_ratio"]
    (ev_low, ev_high), (rpc_low, rpc_high) = r["events_ratio_range"], r["rpc_ratio_range"]
    cmd = "python -m bench bus" + (" " + " ".join(argv) if argv else "")
    text = f"""
Machine: {host}.
Command: `{cmd}` ({args.events} events, {BODY_BYTES}-byte bodies, {args.window} publishes in
flight; {args.calls} RPC calls from {args.concurrency} concurrent callers), {args.rounds}
rounds, each measuring ours and bare back to back. The rates are the medians of the
rounds; the ratio is the median of the rounds' ratios, with their range.

| path | ours | bare aio-pika | ratio | range | goal |
|---|---:|---:|---:|---:|---:|
| events: outbox -> RabbitMQ -> idempotent consumer | {r["ours_events"]:,.0f}/s \
| {r["bare_events"]:,.0f}/s | {ev_ratio:.2f}x | {ev_low:.2f}-{ev_high:.2f}x | >= 0.7x |
| RPC round trips, server commits a row | {r["ours_rpc"]:,.0f}/s \
| {r["bare_rpc"]:,.0f}/s | {rpc_ratio:.2f}x | {rpc_low:.2f}-{rpc_high:.2f}x | >= 0.5x |
| (for reference) the same, a transaction per call | {r["per_call_rpc"]:,.0f}/s \
| {r["bare_rpc"]:,.0f}/s | {r["per_call_rpc"] / r["bare_rpc"]:.2f}x | | |

Events, ours: relay started with the events committed (written to the outbox
beforehand at {r["write_rate"]:,.0f}/s in transactions of 100), until the
consumer applied the last (inbox claim in PostgreSQL, batched transactions);
bare: publish with confirms and persistent messages to a quorum queue, a
consumer acking each; both on quorum queues. Bare publishes with aio-pika's
defaults, each publish holding its channel until its frame is written; ours
does not wait for that (the confirm is still awaited) and sends the frames
written in one turn of the event loop together (ADR 0019).

RPC, ours: nameko-format request over `nameko-rpc` to the service's classic
queue (requests are transient, ADR 0011), handler inserting a row in
PostgreSQL, served with `serve_transactional`: the calls that arrive while a
transaction commits go together in the next one (group commit, ADR 0019), and
each reply is sent after its commit. The reference row serves the same
handler with `serve_typed` and a transaction per call. Bare: aio-pika echo,
no database, over a classic queue with an exclusive reply queue, as ours.
Both run their client and server in this one process, so the machine's load
(other work shares its 2 cores) weighs on both.
"""
    print(text)
    write_section("bus", "## bus\n\n" + text.strip())
    ok = ev_ratio >= 0.7 and rpc_ratio >= 0.5
    print(f"events ratio {ev_ratio:.2f}x (goal 0.7x), RPC ratio {rpc_ratio:.2f}x (goal 0.5x)")
    return 0 if ok else 1
