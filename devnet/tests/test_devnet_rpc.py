"""The node's bitcoind RPC against a real devnet node process (shared per module)."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import httpx
import pytest

from tentenone_devnet.assembly import build_block
from tentenone_devnet.codec import Block, Tx, hex_to_hash
from tentenone_devnet.rpcclient import RpcCallError
from tentenone_devnet.scripts import address_to_script
from tentenone_devnet.testing import Devnet

ADDR = "bcrt1qq6hag67dl53wl99vzg42z8eyzfz2xlkvwk6f7m"  # any valid regtest P2WPKH


def test_chain_starts_with_mature_faucet_coins(devnet: Devnet) -> None:
    info = devnet.rpc.call("getblockchaininfo")
    assert info["chain"] == "regtest"
    assert info["blocks"] >= 101
    assert info["bestblockhash"] == devnet.rpc.call("getbestblockhash")
    assert devnet.rpc.call("getnetworkinfo")["version"] >= 310000
    indexes = devnet.rpc.call("getindexinfo")
    assert indexes["txindex"]["synced"] and indexes["txospenderindex"]["synced"]


def test_block_views_agree(devnet: Devnet) -> None:
    height = devnet.rpc.call("getblockcount")
    block_hash = devnet.rpc.call("getblockhash", height)
    raw = bytes.fromhex(devnet.rpc.call("getblock", block_hash, 0))
    block = Block.parse(raw)
    assert block.header.hash[::-1].hex() == block_hash
    v1 = devnet.rpc.call("getblock", block_hash, 1)
    assert v1["tx"] == [t.txid_hex for t in block.txs]
    assert v1["height"] == height and v1["size"] == len(raw)
    v2 = devnet.rpc.call("getblock", block_hash, 2)
    assert v2["tx"][0]["txid"] == block.txs[0].txid_hex
    assert "coinbase" in v2["tx"][0]["vin"][0]
    header = devnet.rpc.call("getblockheader", block_hash)
    assert header["previousblockhash"] == devnet.rpc.call("getblockhash", height - 1)
    assert devnet.rpc.call("getblockheader", block_hash, False) == raw[:80].hex()
    # ElectrumX asks with a boolean verbosity.
    assert devnet.rpc.call("getblock", block_hash, False) == raw.hex()


def test_fund_confirm_and_spend_views(devnet: Devnet) -> None:
    txid, vout = devnet.fund(ADDR, 250_000)
    assert txid in devnet.rpc.call("getrawmempool")
    entry = devnet.rpc.call("getmempoolentry", txid)
    assert entry["fees"]["base"] > 0
    out = devnet.rpc.call("gettxout", txid, vout)
    assert out["confirmations"] == 0 and out["value"] == Decimal("0.0025")
    assert out["scriptPubKey"]["address"] == ADDR
    raw = devnet.rpc.call("getrawtransaction", txid)
    tx = Tx.parse(bytes.fromhex(raw))
    spent = tx.vin[0].prevout
    spend = devnet.rpc.call(
        "gettxspendingprevout", [{"txid": spent.txid[::-1].hex(), "vout": spent.n}]
    )
    assert spend[0]["spendingtxid"] == txid and "blockhash" not in spend[0]

    [block_hash] = devnet.mine(1)
    assert txid not in devnet.rpc.call("getrawmempool")
    verbose = devnet.rpc.call("getrawtransaction", txid, 1)
    assert verbose["blockhash"] == block_hash and verbose["confirmations"] == 1
    assert devnet.rpc.call("gettxout", txid, vout)["confirmations"] == 1
    spend = devnet.rpc.call(
        "gettxspendingprevout",
        [{"txid": spent.txid[::-1].hex(), "vout": spent.n}],
        {"mempool_only": False},
    )
    assert spend[0]["spendingtxid"] == txid and spend[0]["blockhash"] == block_hash


def test_decoderawtransaction_matches_the_bytes(devnet: Devnet) -> None:
    txid, _ = devnet.fund(ADDR, 100_000)
    raw = devnet.rpc.call("getrawtransaction", txid)
    decoded = devnet.rpc.call("decoderawtransaction", raw)
    tx = Tx.parse(bytes.fromhex(raw))
    assert decoded["txid"] == txid
    assert decoded["vsize"] == tx.vsize and decoded["weight"] == tx.weight
    assert decoded["vout"][0]["scriptPubKey"]["type"] == "witness_v0_keyhash"
    assert decoded["vout"][0]["scriptPubKey"]["desc"].startswith(f"addr({ADDR})#")
    assert len(decoded["vin"][0]["txinwitness"]) == 2


def test_generateblock_with_given_transactions(devnet: Devnet) -> None:
    txid, _ = devnet.fund(ADDR, 120_000)
    other, _ = devnet.fund(ADDR, 130_000)
    result = devnet.rpc.call("generateblock", ADDR, [txid])
    block = devnet.rpc.call("getblock", result["hash"], 1)
    assert block["tx"][1:] == [txid]
    mempool = devnet.rpc.call("getrawmempool")
    assert other in mempool and txid not in mempool
    with pytest.raises(RpcCallError) as err:
        devnet.rpc.call("generateblock", ADDR, ["00" * 32])
    assert err.value.rpc_code == -5
    assert err.value.message == f"Transaction {'00' * 32} not in mempool."


def test_estimatesmartfee_and_mempoolinfo(devnet: Devnet) -> None:
    fee = devnet.rpc.call("estimatesmartfee", 6)
    assert fee["feerate"] > 0
    info = devnet.rpc.call("getmempoolinfo")
    assert info["minrelaytxfee"] == Decimal("0.00000100")
    with pytest.raises(RpcCallError) as err:
        devnet.rpc.call("estimatesmartfee", 0)
    assert err.value.rpc_code == -8


# -- the JSON-RPC envelope -----------------------------------------------------------


def _post(devnet: Devnet, body: str) -> httpx.Response:
    return devnet.rpc.post(body)


def test_parse_error(devnet: Devnet) -> None:
    resp = _post(devnet, "{not json")
    assert resp.status_code == 500
    assert resp.json()["error"] == {"code": -32700, "message": "Parse error"}


def test_method_not_found(devnet: Devnet) -> None:
    resp = _post(devnet, json.dumps({"id": 1, "method": "getwalletinfo", "params": []}))
    assert resp.status_code == 404
    assert resp.json()["error"] == {"code": -32601, "message": "Method not found"}


def test_jsonrpc2_errors_come_with_http_200(devnet: Devnet) -> None:
    resp = _post(devnet, json.dumps({"jsonrpc": "2.0", "id": 7, "method": "nope"}))
    assert resp.status_code == 200
    assert resp.json() == {
        "jsonrpc": "2.0",
        "error": {"code": -32601, "message": "Method not found"},
        "id": 7,
    }


def test_invalid_params(devnet: Devnet) -> None:
    with pytest.raises(RpcCallError) as err:
        devnet.rpc.call("getblockhash")
    assert err.value.rpc_code == -1 and err.value.message.startswith("getblockhash height")
    with pytest.raises(RpcCallError) as err:
        devnet.rpc.call("getblockhash", "one")
    assert err.value.rpc_code == -3
    assert "JSON value of type string is not of expected type number" in err.value.message
    with pytest.raises(RpcCallError) as err:
        devnet.rpc.call("getblockhash", 10**6)
    assert (err.value.rpc_code, err.value.message) == (-8, "Block height out of range")
    with pytest.raises(RpcCallError) as err:
        devnet.rpc.call("getblock", "abc")
    assert err.value.rpc_code == -8
    assert err.value.message == "blockhash must be of length 64 (not 3, for 'abc')"
    with pytest.raises(RpcCallError) as err:
        devnet.rpc.call("getblock", "00" * 32)
    assert (err.value.rpc_code, err.value.message) == (-5, "Block not found")
    with pytest.raises(RpcCallError) as err:
        devnet.rpc.call("generatetoaddress", 1, "bc1qnotregtest")
    assert (err.value.rpc_code, err.value.message) == (-5, "Error: Invalid address")


def test_named_params(devnet: Devnet) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "getblockhash", "params": {"height": 0}}
    assert _post(devnet, json.dumps(body)).json()["result"] == devnet.rpc.call("getblockhash", 0)
    body["params"] = {"hieght": 0}
    assert _post(devnet, json.dumps(body)).json()["error"] == {
        "code": -8,
        "message": "Unknown named parameter hieght",
    }


def test_batch_requests(devnet: Devnet) -> None:
    results = devnet.rpc.batch(
        [("getblockhash", [0]), ("getblockhash", [1]), ("getblockhash", [10**6]), ("nope", [])]
    )
    assert results[0] == devnet.rpc.call("getblockhash", 0)
    assert results[1] == devnet.rpc.call("getblockhash", 1)
    assert isinstance(results[2], RpcCallError) and results[2].rpc_code == -8
    assert isinstance(results[3], RpcCallError) and results[3].rpc_code == -32601


def test_auth_is_required(devnet: Devnet) -> None:
    body = json.dumps({"id": 1, "method": "getblockcount"})
    assert httpx.post(devnet.rpc_url, content=body).status_code == 401
    bad = httpx.post(devnet.rpc_url, content=body, auth=("devnet", "wrong"))
    assert bad.status_code == 401 and bad.content == b""
    cookie = (devnet.node.datadir / ".cookie").read_text().split(":", 1)
    ok = httpx.post(devnet.rpc_url, content=body, auth=(cookie[0], cookie[1]))
    assert ok.status_code == 200 and isinstance(ok.json()["result"], int)


def test_getrawtransaction_verbosity_2_has_fee_and_prevouts(devnet: Devnet) -> None:
    txid, _ = devnet.fund(ADDR, 140_000)
    pending = devnet.rpc.call("getrawtransaction", txid, 2)
    fee = devnet.rpc.call("getmempoolentry", txid)["fees"]["base"]
    assert pending["fee"] == fee
    devnet.mine(1)
    confirmed = devnet.rpc.call("getrawtransaction", txid, 2)
    assert confirmed["fee"] == fee
    prevout = confirmed["vin"][0]["prevout"]
    spent = devnet.rpc.call("getrawtransaction", confirmed["vin"][0]["txid"], 1)
    assert prevout["value"] == spent["vout"][confirmed["vin"][0]["vout"]]["value"]


def test_submitblock_validates_with_the_kernel(devnet: Devnet) -> None:
    tip = devnet.rpc.call("getblockheader", devnet.rpc.call("getbestblockhash"))
    when = max(int(time.time()), tip["mediantime"] + 1)
    script = address_to_script(ADDR)
    good = build_block(hex_to_hash(tip["hash"]), tip["height"] + 1, when, [], script, 0)
    overpaid = build_block(hex_to_hash(tip["hash"]), tip["height"] + 1, when, [], script, 1)
    assert devnet.rpc.call("submitblock", overpaid.serialize().hex()) == "consensus"
    assert devnet.rpc.call("getblockcount") == tip["height"]
    assert devnet.rpc.call("submitblock", good.serialize().hex()) is None
    assert devnet.rpc.call("getbestblockhash") == good.header.hash[::-1].hex()
    assert devnet.rpc.call("submitblock", good.serialize().hex()) == "duplicate"
    with pytest.raises(RpcCallError) as err:
        devnet.rpc.call("submitblock", "00")
    assert (err.value.rpc_code, err.value.message) == (-22, "Block decode failed")


def test_named_parameter_aliases(devnet: Devnet) -> None:
    block_hash = devnet.rpc.call("getbestblockhash")
    for params in (
        {"blockhash": block_hash, "verbose": 0},
        {"blockhash": block_hash, "verbosity": 0},
    ):
        body = {"jsonrpc": "2.0", "id": 1, "method": "getblock", "params": params}
        assert _post(devnet, json.dumps(body)).json()["result"] == devnet.rpc.call(
            "getblock", block_hash, 0
        )
