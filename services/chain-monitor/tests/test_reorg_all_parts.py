"""A 3-block reorganisation that replaces a confirmed payment with a conflicting one, seen by
every part at once: the devnet node and its mempool, ElectrumX, the chain monitor (in this
process, on real PostgreSQL and RabbitMQ) and two ``tentenone.wallet`` wallets over an
``ElectrumChainSource``. Nothing is mocked."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from cm_world import World

from tentenone.chain import ElectrumChainSource, Network, OutPoint
from tentenone.testing import wait_until
from tentenone.wallet import (
    AddressKind,
    MemoryPersister,
    PsbtInput,
    Wallet,
    WalletAccount,
    create_psbt,
    extract_transaction,
)
from tentenone.wire import chain as wire
from tentenone_devnet.rpcclient import RpcCallError
from tentenone_devnet.testing import Devnet, electrum_call

pytestmark = pytest.mark.slow

_WORDS = "legal winner thank year wave sausage worth useful legal winner thank yellow"
_FUNDED = 500_000
_PAID = 200_000


def _account(index: int) -> WalletAccount:
    return WalletAccount.from_mnemonic(_WORDS, Network.REGTEST, AddressKind.P2WPKH, account=index)


def _scripthash(script: bytes) -> str:
    return hashlib.sha256(script).digest()[::-1].hex()


@asynccontextmanager
async def _wallets(net: Devnet) -> AsyncIterator[tuple[Wallet, Wallet]]:
    source = ElectrumChainSource(
        [f"tcp://{net.electrum_address}"], Network.REGTEST, connect_timeout=2.0, retry_s=0.2
    )
    await source.start()
    payer = Wallet(_account(90), source, MemoryPersister(), gap_limit=5)
    payee = Wallet(_account(91), source, MemoryPersister(), gap_limit=5)
    try:
        await payer.start()
        await payee.start()
        yield payer, payee
    finally:
        await payer.close()
        await payee.close()
        await source.close()


async def test_three_block_reorg_replaces_a_confirmed_payment_everywhere(
    devnet_factory: Callable[..., Devnet],
    world_factory: Callable[[Devnet], AbstractAsyncContextManager[World]],
) -> None:
    net = devnet_factory(electrum=True)
    async with world_factory(net) as world, _wallets(net) as (payer, payee):
        funding = await payer.new_address()
        fund_txid, vout = await asyncio.to_thread(net.fund, funding, _FUNDED, True)
        coin = OutPoint(fund_txid, vout)
        await wait_until(lambda: payer.balance().confirmed == _FUNDED, 60, what="payer funded")

        payee_script = payee.account.derive(0, 0).script
        paid_to = await payee.new_address()
        payee_watch = await world.call(
            wire.WATCH,
            wire.WatchRequest(
                owner="test", ref="payee", script_hex=payee_script.hex(), depths=[1, 3]
            ),
        )
        coin_watch = await world.call(
            wire.WATCH,
            wire.WatchRequest(
                owner="test",
                ref="coin",
                outpoint=wire.OutPointRef(txid=fund_txid, vout=vout),
                depths=[1, 3],
            ),
        )
        txid = await payer.send([(paid_to, _PAID)], fee_rate_kvb=2000)
        [block] = await world.mine(1)
        height = int(net.rpc.call("getblockheader", block)["height"])
        await world.mine(2)
        await world.events(
            lambda log: len(log.confirmations(payee_watch.watch_id)) == 2, what="payment at 3"
        )
        assert world.log.confirmations(payee_watch.watch_id) == [
            (txid, 1, block),
            (txid, 3, block),
        ]
        await world.events(
            lambda log: (txid, 3, block) in log.confirmations(coin_watch.watch_id),
            what="spend of the coin at depth 3",
        )
        await wait_until(lambda: payee.balance().confirmed == _PAID, 60, what="payee paid")

        # The conflict: the same coin, all of it (less the fee) back to the payer.
        derived = payer.account.derive(0, 0)
        back = payer.account.derive(0, 3).script
        psbt = create_psbt(
            payer.account,
            [PsbtInput(coin, _FUNDED, derived.script, derived)],
            [(back, _FUNDED - 500)],
        )
        conflict = extract_transaction(payer.sign_psbt(psbt))
        conflict_txid = await asyncio.to_thread(
            lambda: net.rpc.call("decoderawtransaction", conflict.hex())["txid"]
        )
        result = await asyncio.to_thread(net.reorg, height, 4, [conflict.hex()])
        new_block = result["blocks"][0]
        assert block != new_block

        # The node and its mempool: the conflict 4 deep, the payment gone everywhere.
        assert net.rpc.call("getrawtransaction", conflict_txid, 1)["confirmations"] == 4
        with pytest.raises(RpcCallError) as gone:
            net.rpc.call("getrawtransaction", txid)
        assert gone.value.rpc_code == -5
        assert txid not in net.rpc.call("getrawmempool")
        [spend] = net.rpc.call("gettxspendingprevout", [{"txid": fund_txid, "vout": vout}])
        assert spend["spendingtxid"] == conflict_txid

        # ElectrumX: the payee's script has no history, the payer's new one the conflict.
        await asyncio.to_thread(net.wait_electrum_synced)
        address = net.electrum_address
        assert electrum_call(address, "blockchain.scripthash.get_history", _scripthash(back)) == [
            {"tx_hash": conflict_txid, "height": height}
        ]
        assert (
            electrum_call(address, "blockchain.scripthash.get_history", _scripthash(payee_script))
            == []
        )

        # The chain monitor: one chain.reorg naming the payment, then the conflict's spend
        # and its confirmations, counted on the new branch.
        [reorg] = await world.events(lambda log: log.of(wire.ChainReorg), what="chain.reorg")
        assert reorg.fork_height == height - 1 and len(reorg.disconnected) == 3
        assert reorg.disconnected[0] == block
        assert sorted((t.watch_id, t.txid, t.role) for t in reorg.txs) == sorted(
            [(payee_watch.watch_id, txid, "history"), (coin_watch.watch_id, txid, "spends")]
        )
        await world.events(
            lambda log: (conflict_txid, 3, new_block) in log.confirmations(coin_watch.watch_id),
            what="conflict at depth 3",
        )
        of_coin = world.log.of(wire.TxConfirmed, coin_watch.watch_id)
        confirmed = [e for e in of_coin if e.txid == conflict_txid]
        assert [(e.depth, e.block_height) for e in confirmed] == [(1, height), (3, height)]
        assert all(e.tip.height >= reorg.new_tip.height for e in confirmed)
        spent = [
            e
            for e in world.log.of(wire.OutpointSpent, coin_watch.watch_id)
            if e.spending_txid == conflict_txid
        ]
        assert [(e.confirmed, e.block_hash) for e in spent] == [(True, new_block)]
        await world.synced()
        status = await world.call(
            wire.GET_WATCH, wire.WatchIdRequest(watch_id=payee_watch.watch_id)
        )
        assert [(t.confirmations, t.in_mempool) for t in status.txs if t.txid == txid] == [
            (0, False)
        ]
        assert len(world.log.confirmations(payee_watch.watch_id)) == 2  # nothing new for it
        assert world.log.doubled() == []

        # The wallets: the payee has nothing, the payer its coin back less the fee.
        await wait_until(lambda: payee.balance().total == 0, 60, what="payee's payment gone")
        await wait_until(
            lambda: payer.balance().confirmed == _FUNDED - 500, 60, what="payer's balance"
        )
        assert payer.balance().unconfirmed == 0
