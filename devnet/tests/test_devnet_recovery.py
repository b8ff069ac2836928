"""Reorgs and crashes: the node, its mempool and ElectrumX end correct.

Each test runs its own node + ElectrumX (it kills or reorgs them).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tentenone.errors import TentenoneError
from tentenone_devnet.codec import OutPoint, TxOut, hex_to_hash
from tentenone_devnet.kernel import Kernel
from tentenone_devnet.node import Node
from tentenone_devnet.processes import wait_until
from tentenone_devnet.rpcclient import RpcCallError
from tentenone_devnet.scripts import address_to_script
from tentenone_devnet.signer import Key, Spendable
from tentenone_devnet.testing import Devnet, electrum_call

pytestmark = pytest.mark.slow

_FETCHED = re.compile(r"Prefetcher:new block height ([\d,]+)")


def _scripthash(address: str) -> str:
    return hashlib.sha256(address_to_script(address)).digest()[::-1].hex()


def _sats(value: Any) -> int:
    return int(Decimal(value) * 100_000_000)


def _replay_utxo_count(net: Devnet) -> tuple[int, int]:
    """Rebuild the UTXO set from getblock verbosity 2 over the whole chain."""
    height = net.rpc.call("getblockcount")
    hashes = net.rpc.batch([("getblockhash", [h]) for h in range(height + 1)])
    utxo: dict[tuple[str, int], int] = {}
    for start in range(0, len(hashes), 100):
        blocks = net.rpc.batch([("getblock", [h, 2]) for h in hashes[start : start + 100]])
        for block in blocks:
            for tx in block["tx"]:
                for txin in tx["vin"]:
                    if "txid" in txin:
                        del utxo[(txin["txid"], txin["vout"])]
                for out in tx["vout"]:
                    if out["scriptPubKey"]["type"] != "nulldata":
                        utxo[(tx["txid"], out["n"])] = _sats(out["value"])
    # Genesis's coinbase is not spendable and never enters the UTXO set.
    genesis = net.rpc.call("getblock", hashes[0], 1)["tx"][0]
    utxo.pop((genesis, 0), None)
    return len(utxo), sum(utxo.values())


def test_three_block_reorg_replaces_a_confirmed_tx(
    devnet_factory: Callable[..., Devnet],
) -> None:
    net = devnet_factory(electrum=True)
    key = Key()
    paid, other = Key().address(), Key().address()
    txid, vout = net.fund(key.address(), 200_000, confirm=True)
    coin = Spendable(OutPoint(hex_to_hash(txid), vout), TxOut(200_000, key.p2wpkh))
    original = key.spend([coin], [TxOut(190_000, address_to_script(paid))])
    net.rpc.call("sendrawtransaction", original.raw.hex())
    bystander, _ = net.fund(Key().address(), 50_000)  # confirmed, then disconnected
    fork_height = net.rpc.call("getblockcount") + 1
    net.mine(3)
    assert net.rpc.call("getrawtransaction", original.txid_hex, 1)["confirmations"] == 3
    net.wait_electrum_synced()
    assert electrum_call(
        net.electrum_address, "blockchain.scripthash.get_history", _scripthash(paid)
    )

    conflict = key.spend([coin], [TxOut(180_000, address_to_script(other))])
    result = net.reorg(fork_height, 4, [conflict.raw.hex()])
    assert len(result["blocks"]) == 4

    # The node: the conflict is confirmed 4 deep, the original is gone everywhere.
    assert net.rpc.call("getrawtransaction", conflict.txid_hex, 1)["confirmations"] == 4
    with pytest.raises(RpcCallError) as err:
        net.rpc.call("getrawtransaction", original.txid_hex)
    assert err.value.rpc_code == -5
    mempool = net.rpc.call("getrawmempool")
    assert original.txid_hex not in mempool
    assert bystander in mempool  # the disconnected block's other tx is back
    spend = net.rpc.call("gettxspendingprevout", [{"txid": txid, "vout": vout}])
    assert spend[0]["spendingtxid"] == conflict.txid_hex

    # ElectrumX: follows the reorg.
    net.wait_electrum_synced()
    history = electrum_call(
        net.electrum_address, "blockchain.scripthash.get_history", _scripthash(paid)
    )
    assert history == []
    history = electrum_call(
        net.electrum_address, "blockchain.scripthash.get_history", _scripthash(other)
    )
    assert history == [{"tx_hash": conflict.txid_hex, "height": fork_height}]

    # And after a restart the mempool and chain are the same.
    net.restart_node()
    assert net.rpc.call("getrawmempool") == mempool
    assert net.rpc.call("getrawtransaction", conflict.txid_hex, 1)["confirmations"] == 4


def test_node_kill9_while_mining(devnet_factory: Callable[..., Devnet]) -> None:
    net = devnet_factory(electrum=True)
    watched = Key().address()
    pending = [net.fund(watched, 10_000 + i)[0] for i in range(8)]
    log = net.node.log_path
    logged = log.read_text().count("mining progress")
    errors: list[Exception] = []

    def mine() -> None:
        try:
            net.rpc.call("generatetoaddress", 5000, net.faucet_address())
        except (TentenoneError, OSError) as exc:  # the node dies under the call
            errors.append(exc)

    miner = threading.Thread(target=mine, daemon=True)
    miner.start()
    # The node logs progress every 2 s of a long generate: then it is mid-work.
    wait_until(lambda: log.read_text().count("mining progress") > logged, 60)
    net.restart_node(kill=True)
    miner.join(30)
    assert errors, "the generate call should have been cut off by the kill"

    height = net.rpc.call("getblockcount")
    assert height > 102
    # Every funding tx exists exactly once: confirmed or in the mempool, not both.
    mempool = set(net.rpc.call("getrawmempool"))
    for txid in pending:
        info = net.rpc.call("getrawtransaction", txid, 1)
        assert (txid in mempool) != (info.get("confirmations", 0) > 0)
    # The UTXO index equals a replay of the chain.
    stats = net.rpc.call("gettxoutsetinfo")
    assert (stats["txouts"], _sats(stats["total_amount"])) == _replay_utxo_count(net)
    # ElectrumX catches up with the restarted node and sees each payment once.
    net.mine(1)
    net.wait_electrum_synced(timeout=120)
    history = electrum_call(
        net.electrum_address, "blockchain.scripthash.get_history", _scripthash(watched)
    )
    assert sorted(h["tx_hash"] for h in history) == sorted(pending)


def test_electrumx_kill9_while_indexing(devnet_factory: Callable[..., Devnet]) -> None:
    net = devnet_factory(electrum=True)
    assert net.electrumx is not None
    log = net.electrumx.log_path
    watched = Key().address()
    paid: dict[str, int] = {}
    net.wait_electrum_synced()
    for i in range(20):
        txid, _ = net.fund(watched, 20_000 + i)
        paid[txid] = 20_000 + i
        net.rpc.call("generateblock", net.faucet_address(), [txid])
    # One long generate holds the node: ElectrumX then has 1500 blocks to catch up on.
    before = net.rpc.call("getblockcount")
    seen = len(log.read_text())
    net.mine(1500)
    tip = net.rpc.call("getblockcount")

    def fetched_part_only() -> bool:
        # ElectrumX logs each prefetched batch; a batch short of the tip means mid-catch-up.
        heights = [int(h.replace(",", "")) for h in _FETCHED.findall(log.read_text()[seen:])]
        return any(before < h < tip for h in heights)

    wait_until(fetched_part_only, 60, what="ElectrumX to fetch part of the new blocks")
    net.restart_electrumx(kill=True)

    net.wait_electrum_synced(timeout=120)
    sh = _scripthash(watched)
    history = electrum_call(net.electrum_address, "blockchain.scripthash.get_history", sh)
    assert sorted(h["tx_hash"] for h in history) == sorted(paid)
    assert len(history) == len(paid)
    unspent = electrum_call(net.electrum_address, "blockchain.scripthash.listunspent", sh)
    assert {u["tx_hash"]: u["value"] for u in unspent} == paid


_MINE_FLUSH_MINE_AND_DIE = """
import os, sys
from pathlib import Path
from tentenone_devnet.node import Node
node = Node(Path(sys.argv[1]))
node.generate(50, node.faucet.script)
node.kernel.flush()
node.generate(10, node.faucet.script)
os._exit(0)  # no shutdown: what the kernel has not flushed is lost, as with kill -9
"""


def test_kernel_flush_bounds_what_a_crash_loses(tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", _MINE_FLUSH_MINE_AND_DIE, str(tmp_path)], timeout=120, check=False
    )
    assert child.returncode == 0
    kernel = Kernel(tmp_path / "kernel")
    try:
        assert kernel.height == 50  # flushed blocks survived, the last 10 did not
    finally:
        kernel.close()
    node = Node(tmp_path)  # our index has all 60: they are validated again
    try:
        assert node.kernel.height == node.index.height == 60
    finally:
        node.close()
