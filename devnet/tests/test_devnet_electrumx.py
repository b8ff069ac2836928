"""ElectrumX 2.0 indexing the devnet node, checked over the Electrum protocol (raw TCP)."""

from __future__ import annotations

import hashlib
import json
import socket

from tentenone_devnet.codec import Header, Tx, hex_to_hash, sha256d
from tentenone_devnet.faucet import Faucet
from tentenone_devnet.processes import wait_until
from tentenone_devnet.scripts import address_to_script
from tentenone_devnet.testing import Devnet, electrum_call

ADDR = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


def scripthash(address: str) -> str:
    return hashlib.sha256(address_to_script(address)).digest()[::-1].hex()


class _Session:
    """A long-lived Electrum session (for subscriptions and notifications)."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self._sock = socket.create_connection((host, int(port)), timeout=20)
        self._stream = self._sock.makefile("rwb")
        self._id = 0
        self.notifications: list[dict[str, object]] = []
        self.request("server.version", "tentenone-test", "1.4")

    def request(self, method: str, *params: object) -> object:
        self._id += 1
        msg = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}
        self._stream.write((json.dumps(msg) + "\n").encode())
        self._stream.flush()
        while True:
            reply = json.loads(self._stream.readline())
            if "id" not in reply:
                self.notifications.append(reply)
                continue
            assert "error" not in reply, reply
            return reply["result"]

    def next_notification(self) -> dict[str, object]:
        if self.notifications:
            return self.notifications.pop(0)
        reply: dict[str, object] = json.loads(self._stream.readline())
        return reply

    def close(self) -> None:
        self._sock.close()


def test_headers_match_the_node(devnet_electrum: Devnet) -> None:
    net = devnet_electrum
    net.wait_electrum_synced()
    tip = electrum_call(net.electrum_address, "blockchain.headers.subscribe")
    assert tip["height"] == net.rpc.call("getblockcount")
    raw = electrum_call(net.electrum_address, "blockchain.block.header", 5)
    assert Header.parse(bytes.fromhex(raw)).hash[::-1].hex() == net.rpc.call("getblockhash", 5)
    chunk = electrum_call(net.electrum_address, "blockchain.block.headers", 0, 10)
    assert chunk["count"] == 10 and len(chunk["hex"]) == 10 * 160


def test_scripthash_history_listunspent_and_merkle(devnet_electrum: Devnet) -> None:
    net = devnet_electrum
    sh = scripthash(ADDR)
    session = _Session(net.electrum_address)
    try:
        assert session.request("blockchain.scripthash.subscribe", sh) is None  # no history yet
        txid, vout = net.fund(ADDR, 300_000)
        note = session.next_notification()
        assert note["method"] == "blockchain.scripthash.subscribe"
        mempool = session.request("blockchain.scripthash.get_mempool", sh)
        assert [m["tx_hash"] for m in mempool] == [txid]  # type: ignore[index, union-attr]

        [block_hash] = net.mine(1)
        net.wait_electrum_synced()
        history = session.request("blockchain.scripthash.get_history", sh)
        height = net.rpc.call("getblockcount")
        assert history == [{"tx_hash": txid, "height": height}]
        utxos = session.request("blockchain.scripthash.listunspent", sh)
        assert utxos == [{"tx_hash": txid, "tx_pos": vout, "height": height, "value": 300_000}]

        proof = session.request("blockchain.transaction.get_merkle", txid, height)
        assert isinstance(proof, dict)
        node = hex_to_hash(txid)
        pos = proof["pos"]
        for sibling in proof["merkle"]:
            pair = (hex_to_hash(sibling), node) if pos & 1 else (node, hex_to_hash(sibling))
            node = sha256d(pair[0] + pair[1])
            pos >>= 1
        header = net.rpc.call("getblockheader", block_hash)
        assert node[::-1].hex() == header["merkleroot"]
    finally:
        session.close()


def test_broadcast_goes_to_the_node_mempool(devnet_electrum: Devnet, tmp_path: object) -> None:
    net = devnet_electrum
    # A tx the faucet signs but does not submit: ElectrumX must relay it.
    faucet_txid, _ = net.fund(net.faucet_address(), 1_000_000)
    net.mine(1)
    raw = net.rpc.call("getrawtransaction", faucet_txid)
    tx = Tx.parse(bytes.fromhex(raw))
    key = net.node.datadir / "faucet.key"
    faucet = Faucet(key)
    from tentenone_devnet.codec import OutPoint, TxOut

    spend = faucet.spend(
        [(OutPoint(tx.txid, 0), tx.vout[0])], [TxOut(500_000, address_to_script(ADDR))], 1_000
    )
    got = electrum_call(net.electrum_address, "blockchain.transaction.broadcast", spend.raw.hex())
    assert got == spend.txid_hex
    assert spend.txid_hex in net.rpc.call("getrawmempool")
    wait_until(
        lambda: (
            electrum_call(net.electrum_address, "blockchain.transaction.get", spend.txid_hex)
            == spend.raw.hex()
        ),
        10,
        what="ElectrumX to serve the broadcast tx",
    )
