"""The chain monitor service against a real devnet node, ElectrumX, PostgreSQL and RabbitMQ."""

from __future__ import annotations

import httpx
import pytest
from cm_world import World, spend, txid_of

from tentenone.chain import BroadcastRejected
from tentenone.testing import wait_until
from tentenone.wire import chain as wire
from tentenone.wire.errors import MalformedMessage
from tentenone_devnet.signer import Key

pytestmark = pytest.mark.slow


async def test_script_watch_reports_each_depth_once(world: World) -> None:
    key = Key()
    request = wire.WatchRequest(
        owner="dlc", ref="c1/funding", script_hex=key.p2wpkh.hex(), depths=[3, 1]
    )
    watch = await world.call(wire.WATCH, request)
    assert watch.kind == "script" and watch.depths == [1, 3] and watch.outpoint is None
    assert (await world.call(wire.WATCH, request)).watch_id == watch.watch_id  # idempotent
    with pytest.raises(wire.WatchConflict):
        await world.call(wire.WATCH, request.model_copy(update={"depths": [1]}))

    coin = await world.fund(key, 70_000)
    txid = txid_of(coin)

    async def in_mempool() -> bool:
        status = await world.call(wire.GET_WATCH, wire.WatchIdRequest(watch_id=watch.watch_id))
        return [(t.txid, t.in_mempool, t.confirmations) for t in status.txs] == [(txid, True, 0)]

    await wait_until(in_mempool, 30, what="the payment in the mempool")
    assert world.log.of(wire.TxConfirmed, watch.watch_id) == []

    [block] = await world.mine(1)
    await world.events(lambda log: log.confirmations(watch.watch_id), what="depth 1")
    assert world.log.confirmations(watch.watch_id) == [(txid, 1, block)]
    [event] = world.log.of(wire.TxConfirmed, watch.watch_id)
    assert (event.owner, event.ref, event.role, event.kind) == (
        "dlc",
        "c1/funding",
        "history",
        "script",
    )
    height = world.net.rpc.call("getblockcount")
    assert event.block_height == height and event.confirmations == 1 and event.tip.hash == block

    await world.mine(2)
    await world.events(lambda log: len(log.confirmations(watch.watch_id)) == 2, what="depth 3")
    [_, third] = world.log.of(wire.TxConfirmed, watch.watch_id)
    assert (third.depth, third.block_hash, third.confirmations) == (3, block, 3)
    await world.mine(1)
    await world.synced()
    status = await world.call(wire.GET_WATCH, wire.WatchIdRequest(watch_id=watch.watch_id))
    assert [(t.txid, t.block_hash, t.confirmations) for t in status.txs] == [(txid, block, 4)]
    assert world.log.doubled() == []


async def test_outpoint_watch_creation_spend_and_broadcast(world: World) -> None:
    key, other = Key(), Key()
    coin = await world.fund(key, 90_000, confirm=True)
    txid = txid_of(coin)
    # No script: the monitor looks the outpoint's transaction up.
    watch = await world.call(
        wire.WATCH,
        wire.WatchRequest(
            owner="dlc",
            ref="c2/funding-output",
            outpoint=wire.OutPointRef(txid=txid, vout=coin.outpoint.n),
            depths=[1, 2],
        ),
    )
    assert watch.kind == "outpoint" and watch.script_hex == key.p2wpkh.hex()
    await world.events(lambda log: log.confirmations(watch.watch_id), what="creation confirmed")
    [created] = world.log.of(wire.TxConfirmed, watch.watch_id)
    assert created.role == "creates" and created.txid == txid

    payment = spend(key, coin, other.p2wpkh)
    sent = await world.call(wire.BROADCAST, wire.BroadcastRequest(tx_hex=payment.raw.hex()))
    assert sent.txid == payment.txid_hex and sent.outcome == "accepted"
    again = await world.call(wire.BROADCAST, wire.BroadcastRequest(tx_hex=payment.raw.hex()))
    assert again.txid == payment.txid_hex  # already in the mempool: success, no error

    await world.events(lambda log: log.of(wire.OutpointSpent, watch.watch_id), what="spent")
    [seen] = world.log.of(wire.OutpointSpent, watch.watch_id)
    assert (seen.spending_txid, seen.input_index, seen.confirmed) == (payment.txid_hex, 0, False)
    assert seen.outpoint == wire.OutPointRef(txid=txid, vout=coin.outpoint.n)

    [block] = await world.mine(1)
    await world.events(
        lambda log: len(log.of(wire.OutpointSpent, watch.watch_id)) == 2, what="spend mined"
    )
    mined = world.log.of(wire.OutpointSpent, watch.watch_id)[1]
    assert (mined.confirmed, mined.block_hash) == (True, block)
    await world.mine(1)
    await world.events(
        lambda log: (payment.txid_hex, 2, block) in log.confirmations(watch.watch_id),
        what="spend at depth 2",
    )

    known = await world.call(wire.BROADCAST, wire.BroadcastRequest(tx_hex=payment.raw.hex()))
    assert (known.outcome, known.confirmations) == ("known", 2)
    conflict = spend(key, coin, key.p2wpkh, fee=900)
    with pytest.raises(BroadcastRejected) as rejected:
        await world.call(wire.BROADCAST, wire.BroadcastRequest(tx_hex=conflict.raw.hex()))
    assert rejected.value.code == "chain_broadcast_rejected"

    status = await world.call(wire.TX_STATUS, wire.TxStatusRequest(txid=payment.txid_hex))
    assert (status.confirmations, status.block_hash) == (2, block)
    unknown = await world.call(wire.TX_STATUS, wire.TxStatusRequest(txid="ab" * 32))
    assert unknown.confirmations is None
    point = wire.OutPointRef(txid=txid, vout=coin.outpoint.n)
    spent = await world.call(wire.OUTPOINT_STATUS, wire.OutpointStatusRequest(outpoint=point))
    assert (spent.exists, spent.unspent, spent.spending_txid, spent.spend_confirmations) == (
        True,
        False,
        payment.txid_hex,
        2,
    )
    change = wire.OutPointRef(txid=payment.txid_hex, vout=0)
    fresh = await world.call(
        wire.OUTPOINT_STATUS,
        wire.OutpointStatusRequest(outpoint=change, script_hex=other.p2wpkh.hex()),
    )
    assert fresh.exists and fresh.unspent and fresh.spending_txid is None
    assert world.log.doubled() == []


async def test_bad_input_is_a_typed_error_and_changes_nothing(world: World) -> None:
    before = await world.call(wire.LIST_WATCHES, wire.ListWatchesRequest())
    cases = [
        (wire.WatchRequest(owner="dlc", ref="x", script_hex="0014zz"), wire.InvalidScript),
        (
            wire.WatchRequest(owner="dlc", ref="x", script_hex="0014" + "11" * 19),
            wire.InvalidScript,
        ),
        (
            wire.WatchRequest(owner="dlc", ref="x", outpoint=wire.OutPointRef(txid="12", vout=0)),
            wire.InvalidOutpoint,
        ),
        (
            wire.WatchRequest(
                owner="dlc", ref="x", outpoint=wire.OutPointRef(txid="ab" * 32, vout=-1)
            ),
            wire.InvalidOutpoint,
        ),
        (
            # A transaction no server knows, and no script to watch: refused.
            wire.WatchRequest(
                owner="dlc", ref="x", outpoint=wire.OutPointRef(txid="ab" * 32, vout=0)
            ),
            wire.InvalidOutpoint,
        ),
        (wire.WatchRequest(owner="dlc", ref="x"), wire.InvalidWatch),
        (wire.WatchRequest(owner="d l c", ref="x", script_hex="51"), wire.InvalidWatch),
        (wire.WatchRequest(owner="dlc", ref="x", script_hex="51", depths=[0]), wire.InvalidWatch),
    ]
    for request, error in cases:
        with pytest.raises(error) as raised:
            await world.call(wire.WATCH, request)
        assert raised.value.code == error.code and raised.value.message
    with pytest.raises(wire.UnknownWatch):
        await world.call(wire.UNWATCH, wire.UnwatchRequest(watch_id="no-such-watch"))
    with pytest.raises(wire.UnknownWatch):
        await world.call(wire.UNWATCH, wire.UnwatchRequest(owner="dlc", ref="nothing"))
    with pytest.raises(wire.InvalidWatch):
        await world.call(wire.UNWATCH, wire.UnwatchRequest(owner="dlc"))
    with pytest.raises(wire.UnknownWatch):
        await world.call(wire.GET_WATCH, wire.WatchIdRequest(watch_id="nope"))
    with pytest.raises(wire.InvalidTransaction):
        await world.call(wire.BROADCAST, wire.BroadcastRequest(tx_hex="00ff"))
    with pytest.raises(wire.InvalidTransaction):
        await world.call(wire.TX_STATUS, wire.TxStatusRequest(txid="xyz"))
    # A request that is not even the model's shape: the bus's typed error.
    with pytest.raises(MalformedMessage):
        await world.bus.call(
            wire.SERVICE, "watch", kwargs={"owner": "dlc", "ref": "x", "depths": "many"}
        )
    after = await world.call(wire.LIST_WATCHES, wire.ListWatchesRequest())
    assert after == before


async def test_list_unwatch_and_readiness(world: World) -> None:
    keys = [Key() for _ in range(5)]
    made = [
        await world.call(
            wire.WATCH,
            wire.WatchRequest(owner="lister", ref=f"w{i}", script_hex=k.p2wpkh.hex()),
        )
        for i, k in enumerate(keys)
    ]
    first = await world.call(wire.LIST_WATCHES, wire.ListWatchesRequest(owner="lister", limit=3))
    assert [w.watch_id for w in first.watches] == [w.watch_id for w in made[:3]]
    rest = await world.call(
        wire.LIST_WATCHES,
        wire.ListWatchesRequest(owner="lister", limit=3, after=first.next_after),
    )
    assert [w.watch_id for w in rest.watches] == [w.watch_id for w in made[3:]]
    assert rest.next_after is None

    removed = await world.call(wire.UNWATCH, wire.UnwatchRequest(owner="lister", ref="w0"))
    assert removed.watch_id == made[0].watch_id
    with pytest.raises(wire.UnknownWatch):
        await world.call(wire.GET_WATCH, wire.WatchIdRequest(watch_id=made[0].watch_id))
    await world.call(wire.UNWATCH, wire.UnwatchRequest(watch_id=made[1].watch_id))
    left = await world.call(wire.LIST_WATCHES, wire.ListWatchesRequest(owner="lister"))
    assert [w.ref for w in left.watches] == ["w2", "w3", "w4"]

    # A removed watch reports nothing more; a kept one does.
    await world.fund(keys[0], 30_000)
    await world.fund(keys[2], 30_000)
    await world.mine(1)
    await world.events(lambda log: log.of(wire.TxConfirmed, made[2].watch_id), what="kept watch")
    await world.synced()
    assert world.log.of(wire.TxConfirmed, made[0].watch_id) == []

    url = world.runner.url
    assert url is not None
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        ready = (await http.get("/readyz")).json()
        assert ready["status"] == "ready" and ready["checks"]["chain"] == "ok"
        metrics = (await http.get("/metrics")).text
    assert "tentenone_chain_monitor_processed_height" in metrics
