"""Whole blocks from the devnet node: parsed, and refused when they are not the header's."""

from __future__ import annotations

import pytest

pytest.importorskip("tentenone_devnet.testing")

from tentenone.chain import BadMerkleProof, BlockHeader, ChainUnavailable, MalformedReply
from tentenone.chain.block import BitcoindBlockSource, parse_block
from tentenone_devnet.signer import Key

pytestmark = pytest.mark.slow


async def test_a_block_parses_to_its_transactions_and_a_forged_one_is_refused(devnet) -> None:  # type: ignore[no-untyped-def]
    net = devnet
    key = Key()
    net.fund(key.address(), 50_000)  # a segwit spend of the faucet, with a witness
    block_hash = net.mine(1)[0]
    node = BitcoindBlockSource(net.rpc_url, *net.rpc_auth)
    try:
        raw = await node.block(block_hash)
        with pytest.raises(ChainUnavailable):
            await BitcoindBlockSource(net.rpc_url, "devnet", "wrong").block(block_hash)
    finally:
        await node.close()
    header = BlockHeader(raw[:80])
    assert header.hash == block_hash

    txs = parse_block(raw, header)

    listed = net.rpc.call("getblock", block_hash, 2)["tx"]
    assert [t.txid for t in txs] == [t["txid"] for t in listed]
    assert [t.position for t in txs] == list(range(len(listed)))
    assert [t.raw.hex() for t in txs] == [t["hex"] for t in listed]
    paid = next(t for t in txs if key.p2wpkh in t.output_scripts)
    spent = listed[paid.position]["vin"]
    assert paid.spends == tuple((i["txid"], i["vout"]) for i in spent)

    other = BlockHeader(bytes.fromhex(net.rpc.call("getblockheader", net.mine(1)[0], False)))
    with pytest.raises(BadMerkleProof, match="another header"):
        parse_block(raw, other)
    # A transaction changed (its output value): the merkle root no longer matches.
    at = raw.index(paid.raw) + paid.raw.index(key.p2wpkh) - 9
    forged = raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1 :]
    with pytest.raises(BadMerkleProof, match="merkle root"):
        parse_block(forged, header)
    with pytest.raises(MalformedReply):
        parse_block(raw[:-3], header)
