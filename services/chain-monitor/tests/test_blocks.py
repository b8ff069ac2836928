"""New blocks read from the node (ADR 0055): the same events as the per-script path, once.

A block the Electrum notifications have not announced yet gives its confirmations at once
(``early``); when the notifications come, each changed script's history is derived from
the block and checked against its Electrum status; what the block cannot explain (a spend
of a coin the monitor never saw) is asked of the server as before.
"""

from __future__ import annotations

import asyncio

import pytest
from cm_world import World, txid_of
from prometheus_client import REGISTRY

from tentenone.wire import chain as wire
from tentenone_devnet.codec import OutPoint, TxOut
from tentenone_devnet.signer import Key, Spendable

pytestmark = pytest.mark.slow


def _count(name: str) -> float:
    return REGISTRY.get_sample_value(f"tentenone_chain_monitor_{name}_total") or 0.0


async def _watch(world: World, ref: str, key: Key) -> str:
    request = wire.WatchRequest(owner="t", ref=ref, script_hex=key.p2wpkh.hex(), depths=[1, 2])
    return str((await world.call(wire.WATCH, request)).watch_id)


async def test_a_block_paying_many_watches_is_read_from_the_block(world: World) -> None:
    keys = [Key() for _ in range(12)]
    old = Key()
    old_coin = await world.fund(old, 60_000, confirm=True)
    ids = [await _watch(world, f"k{n}", k) for n, k in enumerate(keys)]
    old_id = await _watch(world, "old", old)
    spent_watch = await world.call(
        wire.WATCH,
        wire.WatchRequest(
            owner="t",
            ref="old-coin",
            outpoint=wire.OutPointRef(txid=txid_of(old_coin), vout=old_coin.outpoint.n),
        ),
    )
    await world.events(lambda log: log.confirmations(old_id), what="the old coin confirmed")
    await world.synced()
    early, derived = _count("early_watches"), _count("derived_histories")

    # Never in the mempool: the block brings a payment to every key, and a spend of the
    # old coin (its script's history gets a spend the block alone cannot attribute).
    payer = Key()
    total = 20_000 * len(keys) + 5_000
    txid, vout = await asyncio.to_thread(world.net.fund, payer.address(), total, True)
    coin = Spendable(OutPoint(bytes.fromhex(txid)[::-1], vout), TxOut(total, payer.p2wpkh))
    pay = payer.spend([coin], [TxOut(20_000, k.p2wpkh) for k in keys])
    spend = old.spend([old_coin], [TxOut(59_000, payer.p2wpkh)])
    await world.synced()
    made = await asyncio.to_thread(
        world.net.rpc.call,
        "generateblock",
        world.net.faucet_address(),
        [pay.raw.hex(), spend.raw.hex()],
    )
    block = made["hash"]
    pay_id, spend_id = pay.txid[::-1].hex(), spend.txid[::-1].hex()

    def all_in(log: object) -> bool:
        return all(world.log.confirmations(i) == [(pay_id, 1, block)] for i in ids) and (
            (spend_id, 1, block) in world.log.confirmations(old_id)
        )

    await world.events(all_in, what="every confirmation of the block")
    await world.events(
        lambda log: log.of(wire.OutpointSpent, spent_watch.watch_id), what="the spend"
    )
    [spent] = world.log.of(wire.OutpointSpent, spent_watch.watch_id)
    assert (spent.spending_txid, spent.block_hash) == (spend_id, block)
    await world.synced()
    assert _count("early_watches") > early
    assert _count("derived_histories") >= derived + len(keys)

    await world.mine(1)
    await world.events(lambda log: all(len(log.confirmations(i)) == 2 for i in ids), what="depth 2")
    await world.synced()
    for watch_id in ids:
        status = await world.call(wire.GET_WATCH, wire.WatchIdRequest(watch_id=watch_id))
        assert [(t.txid, t.block_hash, t.confirmations) for t in status.txs] == [(pay_id, block, 2)]
    assert world.log.doubled() == []


async def test_without_a_reachable_node_the_monitor_asks_electrum(
    devnet_electrum, world_factory
) -> None:  # type: ignore[no-untyped-def]
    net = devnet_electrum
    async with world_factory(net, bitcoind_rpc_password="wrong") as world:
        key = Key()
        watch_id = await _watch(world, "refused", key)
        coin = await world.fund(key, 30_000)
        [block] = await world.mine(1)
        await world.events(lambda log: log.confirmations(watch_id), what="confirmed")
        assert world.log.confirmations(watch_id) == [(txid_of(coin), 1, block)]
        assert world.log.doubled() == []


async def test_batched_owners_get_one_event_per_round(devnet_electrum, world_factory) -> None:  # type: ignore[no-untyped-def]
    net = devnet_electrum
    async with world_factory(net, batched_owners=["b"]) as world:
        keys = [Key() for _ in range(4)]
        ids = []
        for n, key in enumerate(keys):
            request = wire.WatchRequest(
                owner="b" if n else "t", ref=f"batched{n}", script_hex=key.p2wpkh.hex()
            )
            ids.append((await world.call(wire.WATCH, request)).watch_id)
        coins = [await world.fund(key, 30_000) for key in keys]
        await world.synced()
        [block] = await world.mine(1)
        await world.events(
            lambda log: all(log.confirmations(i) for i in ids), what="every confirmation"
        )
        for watch_id, coin in zip(ids, coins, strict=True):
            assert world.log.confirmations(watch_id) == [(txid_of(coin), 1, block)]
        batch_ids = {eid for eid, e in world.log.received if getattr(e, "owner", "") == "b"}
        assert len({eid.split("/")[0] for eid in batch_ids}) == 1  # one message for all three
        assert all(
            "/" not in eid for eid, e in world.log.received if getattr(e, "owner", "") == "t"
        )
        assert world.log.doubled() == []
