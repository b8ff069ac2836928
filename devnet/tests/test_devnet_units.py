"""The node's pure parts: serialization, scripts, policy numbers, the JSON-RPC envelope."""

from __future__ import annotations

import hashlib
import json

import pytest

from tentenone_devnet.assembly import height_push, subsidy
from tentenone_devnet.codec import DecodeError, OutPoint, Tx, TxIn, TxOut, merkle_root, sha256d
from tentenone_devnet.jsonrpc import Amount, Param, RpcMethod, dumps, handle_body
from tentenone_devnet.policy import (
    Reject,
    check_standard,
    check_transaction,
    dust_threshold,
    format_money,
)
from tentenone_devnet.script_errors import explain
from tentenone_devnet.scripts import (
    ScriptType,
    address_to_script,
    classify,
    descriptor_checksum,
    script_to_address,
)

P2WPKH = bytes.fromhex("0014" + "11" * 20)


def _tx(outputs: list[TxOut], inputs: int = 1) -> Tx:
    vin = [
        TxIn(OutPoint(bytes([i + 1]) * 32, 0), b"", 0xFFFFFFFD, [b"\x01" * 72])
        for i in range(inputs)
    ]
    return Tx(2, vin, outputs, 0)


def test_tx_round_trip_and_ids() -> None:
    tx = _tx([TxOut(1000, P2WPKH)])
    again = Tx.parse(tx.raw)
    assert again.raw == tx.raw and again.txid == tx.txid
    assert tx.txid == sha256d(tx.stripped) and tx.wtxid == sha256d(tx.raw)
    assert tx.weight == len(tx.stripped) * 3 + len(tx.raw)
    assert tx.vsize == (tx.weight + 3) // 4


@pytest.mark.parametrize(
    "raw",
    ["", "02000000", "0200000000020000", "02000000000100000000" + "00", "0100000000" + "00" * 5],
)
def test_malformed_transactions_do_not_parse(raw: str) -> None:
    with pytest.raises(DecodeError):
        Tx.parse(bytes.fromhex(raw))


def test_merkle_root_duplicates_the_odd_hash() -> None:
    a, b, c = (bytes([i]) * 32 for i in range(3))
    assert merkle_root([a]) == a
    assert merkle_root([a, b, c]) == sha256d(sha256d(a + b) + sha256d(c + c))


def test_bip34_height_push() -> None:
    assert height_push(1) == b"\x51"
    assert height_push(16) == b"\x60"
    assert height_push(17) == b"\x01\x11"
    assert height_push(128) == b"\x02\x80\x00"  # sign bit forces a zero byte
    assert subsidy(149) == 50 * 10**8 and subsidy(150) == 25 * 10**8


def test_descriptor_checksum_bip380_vector() -> None:
    desc = (
        "pkh([d34db33f/44'/0'/0']xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZ"
        "RkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL/1/*)"
    )
    assert descriptor_checksum(desc) == "ml40v0wf"


def test_addresses_round_trip_and_reject_other_networks() -> None:
    for script in (
        P2WPKH,
        bytes.fromhex("0020" + "22" * 32),
        bytes.fromhex("5120" + "33" * 32),
        bytes.fromhex("76a914" + "44" * 20 + "88ac"),
        bytes.fromhex("a914" + "55" * 20 + "87"),
    ):
        address = script_to_address(script)
        assert address is not None and address_to_script(address) == script
    with pytest.raises(ValueError):
        address_to_script("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")  # mainnet
    assert classify(bytes.fromhex("6a0548656c6c6f")) is ScriptType.NULLDATA
    assert classify(bytes.fromhex("51024e73")) is ScriptType.ANCHOR


def test_money_and_dust_numbers_match_core() -> None:
    assert format_money(50_000) == "0.0005"
    assert format_money(100_000_000) == "1.00"
    assert format_money(123) == "0.00000123"
    assert dust_threshold(TxOut(0, P2WPKH)) == 294
    assert dust_threshold(TxOut(0, bytes.fromhex("5120" + "33" * 32))) == 330
    assert dust_threshold(TxOut(0, bytes.fromhex("76a914" + "44" * 20 + "88ac"))) == 546


def test_context_free_rejections() -> None:
    dup = _tx([TxOut(1000, P2WPKH)], inputs=1)
    dup.vin.append(dup.vin[0])
    with pytest.raises(Reject, match="bad-txns-inputs-duplicate"):
        check_transaction(Tx.parse(dup.raw))
    with pytest.raises(Reject, match="bad-txns-vout-negative"):
        check_transaction(_tx([TxOut(-1, P2WPKH)]))
    with pytest.raises(Reject, match=r"^version$"):
        check_standard(Tx(4, _tx([TxOut(1000, P2WPKH)]).vin, [TxOut(1000, P2WPKH)]))


def _dispatch(name: str) -> RpcMethod | None:
    if name == "add":
        return RpcMethod(
            lambda a: a[0] + (a[1] or 0), (Param("a", "int", True), Param("b", "int")), ""
        )
    if name == "amount":
        return RpcMethod(lambda _a: Amount(123), (), "")
    return None


def test_envelope_statuses_and_batches() -> None:
    status, body = handle_body(_dispatch, b'{"id": 1, "method": "add", "params": [2, 3]}')
    assert (status, json.loads(body)) == (200, {"result": 5, "error": None, "id": 1})
    status, body = handle_body(_dispatch, b'[{"id": 1, "method": "add", "params": {"a": 1}}, 7]')
    replies = json.loads(body)
    assert status == 200 and replies[0]["result"] == 1
    assert replies[1]["error"] == {"code": -32600, "message": "Invalid Request object"}
    status, body = handle_body(_dispatch, b'"just a string"')
    assert status == 500 and json.loads(body)["error"]["code"] == -32700
    status, body = handle_body(_dispatch, b'{"id": 1, "method": "add", "params": "x"}')
    assert status == 400 and json.loads(body)["error"]["code"] == -32600


def test_amounts_print_like_bitcoind() -> None:
    assert dumps({"fee": Amount(123)}) == '{"fee": 0.00000123}'
    assert dumps([Amount(-5 * 10**8)]) == "[-5.00000000]"


def test_script_error_names_follow_the_input_shape() -> None:
    pubkey = b"\x02" + b"\x11" * 32
    program = hashlib.new("ripemd160", hashlib.sha256(pubkey).digest()).digest()
    p2wpkh = b"\x00\x14" + program
    op = OutPoint(b"\x01" * 32, 0)
    assert explain(p2wpkh, TxIn(op, witness=[b"\x30" * 71, pubkey])) == (
        "Signature must be zero for failed CHECK(MULTI)SIG operation"
    )
    assert explain(p2wpkh, TxIn(op, witness=[b"\x30" * 71, b"\x03" * 33])) == (
        "Script failed an OP_EQUALVERIFY operation"
    )
    assert explain(p2wpkh, TxIn(op)) == "Witness program was passed an empty witness"
    p2tr = b"\x51\x20" + b"\x22" * 32
    assert explain(p2tr, TxIn(op, witness=[b"\x01" * 64])) == "Invalid Schnorr signature"
    assert explain(p2tr, TxIn(op, witness=[b"\x01" * 63])) == "Invalid Schnorr signature size"
    p2wsh = b"\x00\x20" + hashlib.sha256(b"\x51").digest()
    assert explain(p2wsh, TxIn(op, witness=[b"\x52"])) == "Witness program hash mismatch"
