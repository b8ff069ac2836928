"""Mempool acceptance on a real node: valid spends in, invalid ones out with bitcoind's text."""

from __future__ import annotations

import pytest

from tentenone_devnet.codec import OutPoint, Tx, TxOut, hex_to_hash
from tentenone_devnet.rpcclient import RpcCallError
from tentenone_devnet.signer import Key, Spendable
from tentenone_devnet.testing import Devnet

SINK = bytes.fromhex("0014" + "77" * 20)


def _coin(
    net: Devnet, key: Key, sats: int, taproot: bool = False, confirm: bool = True
) -> Spendable:
    txid, vout = net.fund(key.address(taproot), sats, confirm=confirm)
    script = key.p2tr if taproot else key.p2wpkh
    return Spendable(OutPoint(hex_to_hash(txid), vout), TxOut(sats, script))


def _rejected(net: Devnet, tx: Tx) -> RpcCallError:
    with pytest.raises(RpcCallError) as err:
        net.rpc.call("sendrawtransaction", tx.raw.hex())
    return err.value


def _flip_sig(tx: Tx) -> Tx:
    bad = Tx.parse(tx.raw)
    sig = bytearray(bad.vin[0].witness[0])
    sig[10] ^= 1
    bad.vin[0].witness[0] = bytes(sig)
    return Tx.parse(bad.raw)


@pytest.mark.parametrize(
    ("taproot", "script_error"),
    [
        (False, "Signature must be zero for failed CHECK(MULTI)SIG operation"),
        (True, "Invalid Schnorr signature"),
    ],
    ids=["p2wpkh", "p2tr"],
)
def test_valid_spend_is_accepted_and_bad_signature_rejected(
    devnet: Devnet, taproot: bool, script_error: str
) -> None:
    key = Key()
    coin = _coin(devnet, key, 100_000, taproot)
    tx = key.spend([coin], [TxOut(99_000, SINK)])
    bad = _flip_sig(tx)
    err = _rejected(devnet, bad)
    reason = f"mempool-script-verify-flag-failed ({script_error})"
    assert (err.rpc_code, err.message) == (-26, f"{reason}, input 0")
    check = devnet.rpc.call("testmempoolaccept", [bad.raw.hex()])[0]
    assert check["allowed"] is False
    assert check["reject-reason"] == reason
    assert devnet.rpc.call("testmempoolaccept", [tx.raw.hex()])[0]["allowed"] is True
    assert devnet.rpc.call("sendrawtransaction", tx.raw.hex()) == tx.txid_hex
    assert tx.txid_hex in devnet.rpc.call("getrawmempool")


def test_taproot_sighash_commits_to_all_spent_amounts(devnet: Devnet) -> None:
    """A key-path signature made over a wrong amount of another input must fail."""
    key = Key()
    a = _coin(devnet, key, 50_000, taproot=True)
    b = _coin(devnet, key, 60_000, taproot=True)
    lied = Spendable(b.outpoint, TxOut(70_000, b.out.script_pubkey))
    tx = key.spend([a, lied], [TxOut(100_000, SINK)])
    assert _rejected(devnet, tx).message.startswith("mempool-script-verify-flag-failed")
    good = key.spend([a, b], [TxOut(100_000, SINK)])
    assert devnet.rpc.call("sendrawtransaction", good.raw.hex()) == good.txid_hex


def test_double_spend_of_a_confirmed_spend(devnet: Devnet) -> None:
    key = Key()
    coin = _coin(devnet, key, 80_000)
    first = key.spend([coin], [TxOut(79_000, SINK)])
    devnet.rpc.call("sendrawtransaction", first.raw.hex())
    devnet.mine(1)
    second = key.spend([coin], [TxOut(78_000, SINK)])
    err = _rejected(devnet, second)
    assert (err.rpc_code, err.message) == (-25, "bad-txns-inputs-missingorspent")
    again = _rejected(devnet, first)
    assert (again.rpc_code, again.message) == (-27, "Transaction outputs already in utxo set")


def test_mempool_double_spend_needs_a_valid_replacement(devnet: Devnet) -> None:
    key = Key()
    coin = _coin(devnet, key, 90_000)
    first = key.spend([coin], [TxOut(89_000, SINK)])  # fee 1000
    devnet.rpc.call("sendrawtransaction", first.raw.hex())
    same_fee = key.spend([coin], [TxOut(88_999, bytes.fromhex("0014" + "78" * 20))])
    err = _rejected(devnet, same_fee)
    assert err.rpc_code == -26
    assert err.message.startswith("insufficient fee, rejecting replacement")
    better = key.spend([coin], [TxOut(85_000, SINK)])
    assert devnet.rpc.call("sendrawtransaction", better.raw.hex()) == better.txid_hex
    mempool = devnet.rpc.call("getrawmempool")
    assert better.txid_hex in mempool and first.txid_hex not in mempool


def test_replacement_may_not_add_unconfirmed_inputs(devnet: Devnet) -> None:
    key = Key()
    coin = _coin(devnet, key, 90_000)
    pending = _coin(devnet, key, 40_000, confirm=False)
    first = key.spend([coin], [TxOut(89_000, SINK)])
    devnet.rpc.call("sendrawtransaction", first.raw.hex())
    replacement = key.spend([coin, pending], [TxOut(100_000, SINK)])
    err = _rejected(devnet, replacement)
    assert err.message.startswith("replacement-adds-unconfirmed")


def test_overspend(devnet: Devnet) -> None:
    key = Key()
    coin = _coin(devnet, key, 50_000)
    tx = key.spend([coin], [TxOut(60_000, SINK)])
    err = _rejected(devnet, tx)
    assert err.rpc_code == -26
    assert err.message == "bad-txns-in-belowout, value in (0.0005) < value out (0.0006)"


def test_non_standard_output(devnet: Devnet) -> None:
    key = Key()
    coin = _coin(devnet, key, 50_000)
    tx = key.spend([coin], [TxOut(40_000, b"\x51\x51\x87")])
    assert (_rejected(devnet, tx).rpc_code, _rejected(devnet, tx).message) == (-26, "scriptpubkey")


def test_dust(devnet: Devnet) -> None:
    key = Key()
    coin = _coin(devnet, key, 50_000)
    two_dust = key.spend([coin], [TxOut(200, SINK), TxOut(200, SINK), TxOut(48_000, SINK)])
    assert _rejected(devnet, two_dust).message == "dust"
    one_dust = key.spend([coin], [TxOut(200, SINK), TxOut(48_000, SINK)])
    assert _rejected(devnet, one_dust).message == "dust, tx with dust output must be 0-fee"
    at_threshold = key.spend([coin], [TxOut(294, SINK), TxOut(48_000, SINK)])
    assert devnet.rpc.call("testmempoolaccept", [at_threshold.raw.hex()])[0]["allowed"]


def test_too_low_fee(devnet: Devnet) -> None:
    key = Key()
    coin = _coin(devnet, key, 50_000)
    tx = key.spend([coin], [TxOut(50_000, SINK)])
    err = _rejected(devnet, tx)
    assert err.rpc_code == -26
    assert err.message == f"min relay fee not met, 0 < {(tx.vsize * 100 + 999) // 1000}"


def test_immature_coinbase(devnet: Devnet) -> None:
    key = Key()
    [block_hash] = devnet.rpc.call("generatetoaddress", 1, key.address())
    block = devnet.rpc.call("getblock", block_hash, 2)
    cb = block["tx"][0]
    coin = Spendable(
        OutPoint(hex_to_hash(cb["txid"]), 0),
        TxOut(int(cb["vout"][0]["value"] * 100_000_000), key.p2wpkh),
    )
    tx = key.spend([coin], [TxOut(coin.out.value - 10_000, SINK)])
    err = _rejected(devnet, tx)
    assert err.message == "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 1"


def test_ancestor_limit(devnet: Devnet) -> None:
    key = Key()
    coin = _coin(devnet, key, 1_000_000)
    for _ in range(25):
        tx = key.spend([coin], [TxOut(coin.out.value - 1_000, key.p2wpkh)])
        devnet.rpc.call("sendrawtransaction", tx.raw.hex())
        coin = Spendable(OutPoint(tx.txid, 0), tx.vout[0])
    tx = key.spend([coin], [TxOut(coin.out.value - 1_000, key.p2wpkh)])
    err = _rejected(devnet, tx)
    assert err.message == "too-long-mempool-chain, too many unconfirmed ancestors [limit: 25]"
    devnet.mine(1)
    assert devnet.rpc.call("sendrawtransaction", tx.raw.hex()) == tx.txid_hex


def test_package_child_pays_for_parent(devnet: Devnet) -> None:
    key = Key()
    coin = _coin(devnet, key, 100_000)
    parent = key.spend([coin], [TxOut(100_000, key.p2wpkh)])  # zero fee
    assert _rejected(devnet, parent).message.startswith("min relay fee not met")
    child = key.spend([Spendable(OutPoint(parent.txid, 0), parent.vout[0])], [TxOut(95_000, SINK)])
    result = devnet.rpc.call("submitpackage", [parent.raw.hex(), child.raw.hex()])
    assert result["package_msg"] == "success"
    mempool = devnet.rpc.call("getrawmempool")
    assert parent.txid_hex in mempool and child.txid_hex in mempool


def test_decode_errors(devnet: Devnet) -> None:
    with pytest.raises(RpcCallError) as err:
        devnet.rpc.call("sendrawtransaction", "00zz")
    assert (err.value.rpc_code, err.value.message) == (
        -22,
        "TX decode failed. Make sure the tx has at least one input.",
    )
    with pytest.raises(RpcCallError) as err:
        devnet.rpc.call("decoderawtransaction", "0100")
    assert (err.value.rpc_code, err.value.message) == (-22, "TX decode failed")


def test_a_block_evicts_what_it_conflicts_with(devnet: Devnet) -> None:
    key = Key()
    coin = _coin(devnet, key, 70_000)
    in_pool = key.spend([coin], [TxOut(69_000, key.p2wpkh)])
    devnet.rpc.call("sendrawtransaction", in_pool.raw.hex())
    child = key.spend(
        [Spendable(OutPoint(in_pool.txid, 0), in_pool.vout[0])], [TxOut(68_000, SINK)]
    )
    devnet.rpc.call("sendrawtransaction", child.raw.hex())
    conflict = key.spend([coin], [TxOut(60_000, SINK)])
    devnet.rpc.call("generateblock", devnet.faucet_address(), [conflict.raw.hex()])
    mempool = devnet.rpc.call("getrawmempool")
    assert in_pool.txid_hex not in mempool and child.txid_hex not in mempool
    assert devnet.rpc.call("getrawtransaction", conflict.txid_hex, 1)["confirmations"] == 1


def test_truc_topology(devnet: Devnet) -> None:
    key = Key()
    coin = _coin(devnet, key, 100_000)
    parent = key.spend([coin], [TxOut(99_000, key.p2wpkh)], version=3)
    devnet.rpc.call("sendrawtransaction", parent.raw.hex())
    out = Spendable(OutPoint(parent.txid, 0), parent.vout[0])
    v2_child = key.spend([out], [TxOut(98_000, SINK)], version=2)
    err = _rejected(devnet, v2_child)
    assert err.message.startswith("TRUC-violation, non-version=3 tx ")
    child = key.spend([out], [TxOut(98_000, key.p2wpkh)], version=3)
    devnet.rpc.call("sendrawtransaction", child.raw.hex())
    grandchild = key.spend(
        [Spendable(OutPoint(child.txid, 0), child.vout[0])], [TxOut(97_000, SINK)], version=3
    )
    assert _rejected(devnet, grandchild).message.endswith("would have too many ancestors")


def test_ancestor_size_limit(devnet: Devnet) -> None:
    key = Key()
    coin = _coin(devnet, key, 5_000_000)
    many = [TxOut(330, SINK)] * 1800  # ~56 kvB per tx
    parent = key.spend([coin], [TxOut(4_000_000, key.p2wpkh), *many])
    devnet.rpc.call("sendrawtransaction", parent.raw.hex())
    child = key.spend(
        [Spendable(OutPoint(parent.txid, 0), parent.vout[0])], [TxOut(3_000_000, SINK), *many]
    )
    assert parent.vsize + child.vsize > 101_000
    err = _rejected(devnet, child)
    assert err.message == "too-long-mempool-chain, exceeds ancestor size limit [limit: 101000]"
