"""kill -9 in the middle of work, of the chain monitor itself, of ElectrumX and of the devnet
node: after the restart every watch has each of its events exactly once (a redelivery keeps
its event id; no fact is published under two ids) and none is missing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from cm_world import World, txid_of

from tentenone.bus import Bus
from tentenone.testing import wait_until
from tentenone.testing.processes import PythonProcess
from tentenone.wire import chain as wire
from tentenone_chain_monitor.testing import READY, EventLog, monitor_env, start_client
from tentenone_devnet.codec import OutPoint, Tx, TxOut
from tentenone_devnet.signer import Key, Spendable
from tentenone_devnet.testing import Devnet

pytestmark = pytest.mark.slow

_WATCHES = 40
_EACH = 20_000


def _pay_each(net: Devnet, keys: list[Key]) -> Tx:
    """One transaction paying every key's P2WPKH script, in the node's mempool."""
    payer = Key()
    total = _EACH * len(keys) + 5_000
    txid, vout = net.fund(payer.address(), total, True)
    coin = Spendable(OutPoint(bytes.fromhex(txid)[::-1], vout), TxOut(total, payer.p2wpkh))
    tx = payer.spend([coin], [TxOut(_EACH, k.p2wpkh) for k in keys])
    net.rpc.call("sendrawtransaction", tx.raw.hex())
    return tx


async def _watch_all(bus: Bus, keys: list[Key], owner: str) -> list[str]:
    ids = []
    for n, key in enumerate(keys):
        request = wire.WatchRequest(
            owner=owner, ref=f"w{n}", script_hex=key.p2wpkh.hex(), depths=[1, 2]
        )
        ids.append((await bus.request(wire.WATCH, request, timeout_s=60)).watch_id)
    return ids


def _complete(log: EventLog, ids: list[str], txid: str, block: str, depths: int) -> bool:
    want = [(txid, d, block) for d in (1, 2)[:depths]]
    return all(log.confirmations(i) == want for i in ids)


@asynccontextmanager
async def _monitor_process(
    spawn: Callable[..., PythonProcess], net: Devnet, pg_url: str, amqp_url: str, tmp: Path
) -> AsyncIterator[PythonProcess]:
    env = monitor_env(
        database_url=pg_url,
        amqp_url=amqp_url,
        electrum=[f"tcp://{net.electrum_address}"],
        header_file=str(tmp / "headers"),
        bitcoind_rpc_url=net.rpc_url,
        bitcoind_rpc_user=net.rpc_auth[0],
        bitcoind_rpc_password=net.rpc_auth[1],
        # Small batches, each logged: the test sees the round under way and kills it there.
        batch_size="4",
        progress_log_s="0.001",
        retry_s="0.1",
        retry_max_s="1",
    )
    proc = spawn("tentenone_chain_monitor", env=env)
    await proc.wait_for_output(READY, 120)
    yield proc


async def _killed_at_next(proc: PythonProcess, text: str, within_s: float = 60) -> None:
    """SIGKILL the process as soon as its current run logs ``text`` once more."""
    before = proc.output().count(text)
    await wait_until(lambda: proc.output().count(text) > before, within_s, interval=0.01, what=text)
    assert proc.kill() == -9


async def test_monitor_killed_mid_round_and_mid_publishing(
    devnet_electrum: Devnet,
    spawn: Callable[..., PythonProcess],
    pg_url: str,
    amqp_url: str,
    tmp_path: Path,
) -> None:
    net = devnet_electrum
    bus, log = await start_client(amqp_url)
    keys = [Key() for _ in range(_WATCHES)]
    try:
        async with _monitor_process(spawn, net, pg_url, amqp_url, tmp_path) as proc:
            ids = await _watch_all(bus, keys, "crash")
            tx = await asyncio.to_thread(_pay_each, net, keys)

            async def seen_in_mempool() -> bool:
                for watch_id in ids:
                    status = await bus.request(
                        wire.GET_WATCH, wire.WatchIdRequest(watch_id=watch_id), timeout_s=30
                    )
                    if [t.in_mempool for t in status.txs] != [True]:
                        return False
                return True

            await wait_until(seen_in_mempool, 60, interval=0.2, what="payments in the mempool")

            # 1. Killed while the round for the new block fetches the histories.
            killed = asyncio.create_task(_killed_at_next(proc, "histories fetched"))
            [block] = await asyncio.to_thread(net.mine, 1)
            await killed
            proc.start()
            await proc.wait_for_output(READY, 120)
            await wait_until(
                lambda: _complete(log, ids, tx.txid_hex, block, 1), 60, what="depth 1 for all"
            )

            # 2. Killed while the outbox relay publishes the round's events.
            await asyncio.to_thread(net.mine, 1)
            await wait_until(
                lambda: any(len(log.confirmations(i)) == 2 for i in ids), 60, what="first depth 2"
            )
            assert proc.kill() == -9
            proc.start()
            await proc.wait_for_output(READY, 120)
            await wait_until(
                lambda: _complete(log, ids, tx.txid_hex, block, 2), 60, what="depth 2 for all"
            )
            assert log.doubled() == []
    finally:
        await bus.close()


async def test_electrumx_and_node_killed_while_the_monitor_works(
    devnet_factory: Callable[..., Devnet],
    world_factory: Callable[..., AbstractAsyncContextManager[World]],
) -> None:
    net = devnet_factory(electrum=True)
    keys = [Key() for _ in range(_WATCHES // 2)]
    async with world_factory(net, retry_s=0.1, retry_max_s=1.0) as world:
        ids = await _watch_all(world.bus, keys, "servers")
        tx = await asyncio.to_thread(_pay_each, net, keys)
        key = Key()
        [single] = await _watch_all(world.bus, [key], "single")
        coin = await world.fund(key, 50_000)

        # ElectrumX dies as the block is found; a second block comes while it is down.
        [block] = await world.mine(1)
        await asyncio.to_thread(net.electrumx.kill9)  # type: ignore[union-attr]
        await world.mine(1)
        await asyncio.to_thread(net.start_electrumx)
        await world.events(
            lambda log: _complete(log, ids, tx.txid_hex, block, 2), what="every depth, once"
        )
        assert world.log.confirmations(single) == [
            (txid_of(coin), 1, block),
            (txid_of(coin), 2, block),
        ]

        # The node dies right after mining (kill -9): it restarts with its chain, ElectrumX
        # reconnects to it, the monitor goes on from where it was.
        more = [Key() for _ in range(4)]
        later_ids = await _watch_all(world.bus, more, "after")
        later = await asyncio.to_thread(_pay_each, net, more)
        [later_block] = await world.mine(1)
        await asyncio.to_thread(net.restart_node, True)
        assert net.rpc.call("getbestblockhash") == later_block
        await world.mine(1)
        await world.events(
            lambda log: _complete(log, later_ids, later.txid_hex, later_block, 2),
            what="confirmations after the node's restart",
        )
        await world.synced()
        assert world.log.doubled() == []
        assert all(len(world.log.confirmations(i)) == 2 for i in ids)
