"""Chain monitor benchmark: a new block -> ``chain.tx_confirmed`` for N watched outputs.

Everything real: a devnet node and ElectrumX (the deployed 1 s reply hold, or the tests'
0.05 s), PostgreSQL, RabbitMQ, the chain monitor service (in this process, with its outbox
relay) and a bus consumer here. N script watches (one key each); transactions paying them
(one output each, or ``per_tx`` each) are built and signed beforehand and never seen in the
mempool: the timed block brings them all (the monitor reads N histories and each
transaction with its merkle proof). Timed from ``generateblock`` returning (the node has
validated and indexed the block) to the Nth event received; the node's own time is
reported beside, and so is ElectrumX's floor: the same requests sent at once on one
connection by a bare client.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import REGISTRY

from tentenone.bus import Bus, ReceivedEvent
from tentenone.chain import ChainSource, NewTip, ScriptChanged
from tentenone.service import ServiceRunner
from tentenone.testing import postgres, wait_until
from tentenone.testing.amqp import VhostPool, vhost_url
from tentenone.wire import chain as wire
from tentenone_chain_monitor.monitor import ChainMonitor
from tentenone_chain_monitor.service import service
from tentenone_chain_monitor.settings import ChainMonitorSettings
from tentenone_devnet.codec import OutPoint, TxOut
from tentenone_devnet.signer import Key, Spendable
from tentenone_devnet.testing import Devnet

__all__ = ["MonitorResult", "run"]

_ROUNDS = "tentenone_chain_monitor_rounds_total"
_DERIVED = "tentenone_chain_monitor_derived_histories_total"

_VALUE = 10_500
_FEE = 500


def _rounds() -> float:
    return REGISTRY.get_sample_value(_ROUNDS) or 0.0


def _derived() -> float:
    return REGISTRY.get_sample_value(_DERIVED) or 0.0


@dataclass(frozen=True)
class MonitorResult:
    watches: int
    per_tx: int
    #: the monitor fetched new blocks from the node (else: Electrum per script)
    blocks: bool
    #: the confirmations came as ``chain.txs_confirmed`` (else one event each)
    batched: bool
    #: ElectrumX alone: every history, transaction and proof the round needs, at once
    electrumx_floor_s: float
    reply_hold_s: float | None
    register_s: float
    generateblock_s: float
    tip_seen_s: float
    first_script_s: float
    last_script_s: float
    committed_s: float
    first_event_s: float
    all_events_s: float
    rounds: int
    #: changed scripts whose history the monitor read from the block
    derived: int


def _build(net: Devnet, keys: list[Key], per_tx: int) -> list[str]:
    """Signed transactions paying ``per_tx`` keys each; their coins confirmed, not sent."""
    payer = Key()
    groups = [keys[i : i + per_tx] for i in range(0, len(keys), per_tx)]
    lanes = [_VALUE * len(g) for g in groups]
    total = sum(lanes) + 20_000
    txid, vout = net.fund(payer.address(), total, True)
    coin = Spendable(OutPoint(bytes.fromhex(txid)[::-1], vout), TxOut(total, payer.p2wpkh))
    fan = payer.spend([coin], [TxOut(v, payer.p2wpkh) for v in lanes])
    net.rpc.call("sendrawtransaction", fan.raw.hex())
    net.mine(1)
    raws = []
    for n, (group, value) in enumerate(zip(groups, lanes, strict=True)):
        lane = Spendable(OutPoint(fan.txid, n), TxOut(value, payer.p2wpkh))
        outs = [TxOut(_VALUE - _FEE, k.p2wpkh) for k in group]
        raws.append(payer.spend([lane], outs).raw.hex())
    return raws


async def _floor(address: str, requests: list[tuple[str, list[object]]]) -> float:
    """Seconds ElectrumX alone takes to answer ``requests`` sent at once on one connection."""
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        hello = {"jsonrpc": "2.0", "id": -1, "method": "server.version", "params": ["b", "1.4"]}
        writer.write((json.dumps(hello) + "\n").encode())
        await writer.drain()
        await reader.readline()
        started = time.perf_counter()
        for i, (method, params) in enumerate(requests):
            body = {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            writer.write((json.dumps(body) + "\n").encode())
        await writer.drain()
        answered = 0
        while answered < len(requests):
            answered += bool((await reader.readline()).strip())
        return time.perf_counter() - started
    finally:
        writer.close()


async def _idle(runner: ServiceRunner, net: Devnet) -> None:
    """Until the monitor has nothing left to look at and no round ran for a moment."""
    monitor = runner.ctx.extras["monitor"]
    assert isinstance(monitor, ChainMonitor)
    best = net.rpc.call("getbestblockhash")
    last = (-1.0, 0.0)

    def quiet() -> bool:
        nonlocal last
        rounds = _rounds()
        now = time.monotonic()
        if rounds != last[0]:
            last = (rounds, now)
            return False
        done = monitor.processed is not None and monitor.processed.hash == best
        return done and not monitor._dirty and now - last[1] > 1.0

    await wait_until(quiet, 600, interval=0.1, what="the monitor idle")


async def _measure(
    net: Devnet,
    pg_url: str,
    amqp_url: str,
    tmp: Path,
    n: int,
    per_tx: int,
    blocks: bool,
    batched: bool,
) -> MonitorResult:
    keys = [Key() for _ in range(n)]
    raws = await asyncio.to_thread(_build, net, keys, per_tx)
    settings = ChainMonitorSettings(
        database_url=pg_url,
        amqp_url=amqp_url,
        electrum_servers=[f"tcp://{net.electrum_address}"],
        header_file=tmp / "headers",
        http_port=0,
        bitcoind_rpc_url=net.rpc_url if blocks else None,
        bitcoind_rpc_user=net.rpc_auth[0],
        bitcoind_rpc_password=net.rpc_auth[1],
        batched_owners=["bench"] if batched else [],
    )
    runner = ServiceRunner(service, settings)
    await runner.start()
    client = Bus.for_url("bench-chain-client", amqp_url)
    await client.start()
    arrived: dict[str, float] = {}
    wanted = {k.p2wpkh.hex() for k in keys}
    watch_ids: set[str] = set()

    async def on_confirmed(event: ReceivedEvent[wire.TxConfirmed]) -> None:
        if event.payload.watch_id in watch_ids:
            arrived.setdefault(event.event_id, time.perf_counter())

    async def on_batch(event: ReceivedEvent[wire.TxsConfirmed]) -> None:
        now = time.perf_counter()
        for n, item in enumerate(event.payload.confirmations):
            if item.watch_id in watch_ids:
                arrived.setdefault(f"{event.event_id}/{n}", now)

    await client.subscribe(wire.TxConfirmed, on_confirmed, name="bench_confirmed")
    await client.subscribe(wire.TxsConfirmed, on_batch, name="bench_batched")
    try:
        started = time.perf_counter()
        for i in range(0, n, 100):
            made = await asyncio.gather(
                *(
                    client.request(
                        wire.WATCH,
                        wire.WatchRequest(
                            owner="bench", ref=f"w{j}", script_hex=keys[j].p2wpkh.hex()
                        ),
                        timeout_s=120,
                    )
                    for j in range(i, min(i + 100, n))
                )
            )
            watch_ids.update(w.watch_id for w in made if w.script_hex in wanted)
        register_s = time.perf_counter() - started
        await _idle(runner, net)
        rounds_before = _rounds()
        derived_before = _derived()
        faucet = net.faucet_address()
        timeline = asyncio.create_task(_timeline(runner, net.rpc.call("getblockcount") + 1))
        await asyncio.sleep(0.1)
        t0 = time.perf_counter()
        made = await asyncio.to_thread(net.rpc.call, "generateblock", faucet, raws)
        t1 = time.perf_counter()
        await wait_until(lambda: len(arrived) >= n, 300, interval=0.002, what=f"{n} events")
        first, last = min(arrived.values()), max(arrived.values())
        tip_at, first_script, last_script, committed = await timeline
        height = net.rpc.call("getblockcount")
        txids = net.rpc.call("getblock", made["hash"], 1)["tx"][1:]
        floor = await _floor(
            net.electrum_address,
            [("blockchain.scripthash.get_history", [_scripthash(k.p2wpkh)]) for k in keys]
            + [("blockchain.transaction.get", [t]) for t in txids]
            + [("blockchain.transaction.get_merkle", [t, height]) for t in txids],
        )
        return MonitorResult(
            watches=n,
            per_tx=per_tx,
            blocks=blocks,
            batched=batched,
            electrumx_floor_s=floor,
            reply_hold_s=net.electrum_reply_hold_s,
            register_s=register_s,
            generateblock_s=t1 - t0,
            tip_seen_s=tip_at - t1,
            first_script_s=first_script - t1,
            last_script_s=last_script - t1,
            committed_s=committed - t1,
            first_event_s=first - t1,
            all_events_s=last - t1,
            rounds=int(_rounds() - rounds_before),
            derived=int(_derived() - derived_before),
        )
    finally:
        await client.close()
        await runner.stop()


async def _timeline(runner: ServiceRunner, height: int) -> tuple[float, float, float, float]:
    """When the chain source saw the new tip, the first and last script change (a 0.3 s
    quiet ends the burst), and when the monitor committed the round at ``height``."""
    source: ChainSource = runner.ctx.extras["source"]
    monitor = runner.ctx.extras["monitor"]
    assert isinstance(monitor, ChainMonitor)
    stream = source.events()
    tip_at = first = last = 0.0

    async def follow() -> None:
        nonlocal tip_at, first, last
        async for event in stream:
            now = time.perf_counter()
            if isinstance(event, NewTip) and event.height == height and not tip_at:
                tip_at = now
            elif isinstance(event, ScriptChanged) and tip_at:
                first = first or now
                last = now

    task = asyncio.create_task(follow())
    try:
        await wait_until(
            lambda: monitor.processed is not None and monitor.processed.height >= height,
            300,
            interval=0.002,
        )
        committed = time.perf_counter()
        await wait_until(lambda: last and time.perf_counter() - last > 0.3, 300, interval=0.05)
    finally:
        task.cancel()
    return tip_at, first, last, committed


def _scripthash(script: bytes) -> str:
    return hashlib.sha256(script).digest()[::-1].hex()


def run(
    n: int,
    reply_hold_s: float | None,
    per_tx: int = 1,
    blocks: bool = True,
    batched: bool = False,
) -> MonitorResult:
    """One measurement on a fresh devnet, database and vhost."""
    pool = VhostPool()
    vhost = pool.acquire()
    db_name = postgres.create_database()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
            net = Devnet(Path(tmp) / "devnet", electrum_reply_hold_s=reply_hold_s)
            try:
                net.start_electrumx()
                return asyncio.run(
                    _measure(
                        net,
                        postgres.async_url(db_name),
                        vhost_url(vhost),
                        Path(tmp),
                        n,
                        per_tx,
                        blocks,
                        batched,
                    )
                )
            finally:
                net.close()
    finally:
        pool.release(vhost)
        pool.close()
        postgres.drop_database(db_name)
