"""ElectrumChainSource against the real devnet node and a real ElectrumX."""

from __future__ import annotations

import asyncio
import os

import pytest

pytest.importorskip("tentenone_devnet.testing")

from chainutil import account, next_event, spend, start_source, wait_until
from electrum_proxy import RewritingProxy

from tentenone.chain import (
    BroadcastRejected,
    ChainUnavailable,
    ElectrumChainSource,
    InvalidChainInput,
    Network,
    NewTip,
    OutPoint,
    ScriptChanged,
    ServerSwitched,
    TransactionNotFound,
)
from tentenone.wallet import script_to_address

pytestmark = pytest.mark.slow


async def _confirmed_in(source: ElectrumChainSource, script: bytes, txid: str) -> bool:
    return any(h.txid == txid and h.height for h in await source.history(script))


def _sample(name: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, {"source": "chain"}) or 0.0


def _addr(script: bytes) -> str:
    return script_to_address(script, Network.REGTEST)


async def test_headers_subscriptions_spv_and_spends(devnet_electrum) -> None:  # type: ignore[no-untyped-def]
    net = devnet_electrum
    source = await start_source(net.electrum_address)
    try:
        tip = await source.tip()
        assert tip.height == net.rpc.call("getblockcount")
        assert tip.hash == net.rpc.call("getbestblockhash")
        assert (await source.header(50)).hash == net.rpc.call("getblockhash", 50)

        acct = account(1)
        mine = acct.derive(0, 0)
        events = source.events()
        assert await source.subscribe_script(mine.script) is None
        txid, vout = await asyncio.to_thread(net.fund, _addr(mine.script), 250_000)
        changed = await next_event(events, ScriptChanged)
        assert changed.script == mine.script and changed.status is not None
        history = await source.history(mine.script)
        assert [(h.txid, h.height) for h in history] == [(txid, None)]
        assert not (await source.get_transaction(txid)).confirmed

        block = (await asyncio.to_thread(net.mine, 1))[0]
        await next_event(events, NewTip, where=lambda e: e.block_hash == block)
        await next_event(events, ScriptChanged)
        info = await source.get_transaction(txid)
        assert info.confirmed and info.block_hash == block
        assert info.height == (await source.tip()).height
        [utxo] = await source.unspent(mine.script)
        assert utxo.outpoint == OutPoint(txid, vout) and utxo.value == 250_000

        assert await source.find_spend(OutPoint(txid, vout)) is None
        other = acct.derive(0, 1).script
        raw = spend(acct, 0, OutPoint(txid, vout), 250_000, other, 500)
        spend_txid = await source.broadcast(raw)
        assert await source.broadcast(raw) == spend_txid  # a repeated broadcast is not an error
        # ElectrumX sees its node's mempool on its next poll: wait for the script to change.
        await next_event(events, ScriptChanged)
        found = await source.find_spend(OutPoint(txid, vout), mine.script)
        assert found is not None and found.txid == spend_txid and found.input_index == 0

        conflict = spend(acct, 0, OutPoint(txid, vout), 250_000, other, 400)
        with pytest.raises(BroadcastRejected) as rejected:
            await source.broadcast(conflict)
        assert rejected.value.code == "chain_broadcast_rejected"
        assert "insufficient fee" in rejected.value.message or "conflict" in rejected.value.message
        assert await source.estimate_fee(2) >= 1000
    finally:
        await source.close()


async def test_bad_input_gets_typed_errors(devnet_electrum) -> None:  # type: ignore[no-untyped-def]
    source = await start_source(devnet_electrum.electrum_address)
    try:
        with pytest.raises(InvalidChainInput, match="64 hex"):
            await source.get_transaction("zz")
        with pytest.raises(TransactionNotFound):
            await source.get_transaction(os.urandom(32).hex())
        with pytest.raises(InvalidChainInput, match="not a transaction"):
            await source.broadcast(b"\x01\x02")
        with pytest.raises(InvalidChainInput, match=r"1\.\.1008"):
            await source.estimate_fee(0)
        # A well-formed transaction with a bad signature: the node's own reason comes back.
        acct = account(2)
        bogus = spend(
            acct, 0, OutPoint(os.urandom(32).hex(), 0), 10_000, acct.derive(0, 1).script, 300
        )
        with pytest.raises(BroadcastRejected, match=r"missing|inputs"):
            await source.broadcast(bogus)
    finally:
        await source.close()


async def test_server_sending_weak_header_is_dropped(devnet_electrum) -> None:  # type: ignore[no-untyped-def]
    net = devnet_electrum
    proxy = RewritingProxy(net.electrum_address)
    bad = await proxy.start()
    source = await start_source(bad, net.electrum_address)
    dropped_before = _sample("tentenone_chain_servers_dropped_total")
    try:
        assert source.current_server == bad
        events = source.events()
        proxy.corrupt.add("headers")
        block = (await asyncio.to_thread(net.mine, 1))[0]
        switched = await next_event(events, ServerSwitched)
        assert switched.server == f"tcp://{net.electrum_address}"
        await wait_until(lambda: source.dropped != [], 10, "the weak-header server dropped")
        server, reason = source.dropped[0]
        assert server == bad and "not enough work" in reason
        assert _sample("tentenone_chain_servers_dropped_total") == dropped_before + 1
        assert _sample("tentenone_chain_tip_height") == net.rpc.call("getblockcount")
        await wait_until(
            lambda: source._chain is not None and source._chain.tip.hash == block, 20, "tip"
        )
        assert (await source.tip()).hash == block == net.rpc.call("getbestblockhash")
    finally:
        await source.close()
        await proxy.close()


async def test_server_sending_bad_merkle_proof_or_garbage_is_dropped(devnet_electrum) -> None:  # type: ignore[no-untyped-def]
    net = devnet_electrum
    acct = account(3)
    script = acct.derive(0, 0).script
    txid, _ = await asyncio.to_thread(net.fund, _addr(script), 100_000, True)
    direct = await start_source(net.electrum_address)
    try:
        await wait_until(
            lambda: _confirmed_in(direct, script, txid), 20, "the payment indexed as confirmed"
        )
    finally:
        await direct.close()
    for mode, words in (("merkle", "merkle"), ("history", "history"), ("nonjson", "not JSON")):
        proxy = RewritingProxy(net.electrum_address)
        bad = await proxy.start()
        source = await start_source(bad, net.electrum_address)
        try:
            proxy.corrupt.add(mode)
            if mode == "nonjson":
                assert len(await source.unspent(script)) == 1
            history = await source.history(script)  # garbage → dropped → answered by the other
            info = await source.get_transaction(txid, history[0].height)
            assert info.confirmed and info.txid == txid
            assert proxy.rewritten, "the proxy never had a chance to lie"
            assert [s for s, _ in source.dropped] == [bad]
            assert words in source.dropped[0][1]
            assert source.current_server == f"tcp://{net.electrum_address}"
        finally:
            await source.close()
            await proxy.close()


async def test_electrumx_killed_mid_work_fails_over_then_reconnects(devnet_factory) -> None:  # type: ignore[no-untyped-def]
    from tentenone_devnet.processes import ElectrumXProcess
    from tentenone_devnet.testing import electrum_call

    net = devnet_factory(electrum=True)
    user, password = net.rpc_auth
    second = ElectrumXProcess(
        net.datadir / "electrumx-b", f"http://{user}:{password}@{net.rpc_url.split('//')[1]}"
    )
    address_b = await asyncio.to_thread(second.start)
    height = net.rpc.call("getblockcount")
    await wait_until(
        lambda: electrum_call(address_b, "blockchain.headers.subscribe")["height"] == height,
        60,
        "second ElectrumX synced",
    )
    source = await start_source(net.electrum_address, address_b, call_timeout=5.0)
    script = account(4).derive(0, 0).script
    events = source.events()
    errors: list[BaseException] = []
    unavailable: list[ChainUnavailable] = []
    stop = asyncio.Event()

    async def busy() -> None:
        # Queries all along. With no server up they end in ChainUnavailable after a
        # bounded wait (counted); anything else is a failure.
        while not stop.is_set():
            try:
                await source.history(script)
            except ChainUnavailable as exc:
                unavailable.append(exc)
            except BaseException as exc:  # recorded, asserted on below
                errors.append(exc)
                return

    async def tip_is_nodes() -> bool:
        return (await source.tip()).hash == net.rpc.call("getbestblockhash")

    try:
        await source.subscribe_script(script)
        assert source.current_server == f"tcp://{net.electrum_address}"
        worker = asyncio.create_task(busy())

        # 1. The first server dies mid-work: the other takes over, nothing is missed.
        await asyncio.to_thread(net.electrumx.kill9)
        first, _ = await asyncio.to_thread(net.fund, _addr(script), 50_000, True)
        switched = await next_event(events, ServerSwitched, within_s=30)
        assert switched.server == f"tcp://{address_b}"
        await next_event(events, ScriptChanged, within_s=30)
        await wait_until(tip_is_nodes, 30, "tip through the second server")
        history = await source.history(script)
        assert [h.txid for h in history] == [first] and history[0].height is not None
        assert unavailable == [], "failover to a live server must not surface as unavailable"

        # 2. The second dies too; while none is up, a payment confirms. The first comes back.
        await asyncio.to_thread(second.kill9)
        later, _ = await asyncio.to_thread(net.fund, _addr(script), 60_000, True)
        await asyncio.to_thread(net.mine, 1)
        await asyncio.to_thread(net.start_electrumx)
        switched = await next_event(events, ServerSwitched, within_s=60)
        assert switched.server == f"tcp://{net.electrum_address}"
        await next_event(events, ScriptChanged, within_s=60)
        await wait_until(tip_is_nodes, 30, "tip after restart")
        history = await source.history(script)
        assert [h.txid for h in history] == [first, later]
        assert all(h.height is not None for h in history)
        assert (await source.get_transaction(later)).confirmed
        stop.set()
        await asyncio.wait_for(worker, 30)
        assert errors == []
    finally:
        stop.set()
        await source.close()
        await asyncio.to_thread(second.stop)
