from __future__ import annotations

import os

import pytest
from headerutil import REGTEST_GENESIS, dsha

from tentenone.chain.errors import BadMerkleProof
from tentenone.chain.headers import BlockHeader
from tentenone.chain.merkle import merkle_root_from_branch, verify_merkle_proof


def _tree(leaves: list[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """Merkle root and, per leaf, its branch (Bitcoin's duplicate-last-node rule)."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        level = levels[-1] + ([levels[-1][-1]] if len(levels[-1]) % 2 else [])
        levels.append([dsha(level[i] + level[i + 1]) for i in range(0, len(level), 2)])
    branches = []
    for pos in range(len(leaves)):
        branch, index = [], pos
        for level in levels[:-1]:
            padded = level + ([level[-1]] if len(level) % 2 else [])
            branch.append(padded[index ^ 1])
            index >>= 1
        branches.append(branch)
    return levels[-1][0], branches


def _block(root: bytes) -> BlockHeader:
    raw = bytearray(REGTEST_GENESIS.raw)
    raw[36:68] = root
    return BlockHeader(bytes(raw))


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16])
def test_every_position_verifies_and_tampering_fails(count: int) -> None:
    raws = [os.urandom(100 + i) for i in range(count)]
    leaves = [dsha(r) for r in raws]
    root, branches = _tree(leaves)
    header = _block(root)
    for pos, (raw, branch) in enumerate(zip(raws, branches, strict=True)):
        txid = leaves[pos][::-1].hex()
        hex_branch = [h[::-1].hex() for h in branch]
        assert merkle_root_from_branch(txid, hex_branch, pos) == root
        verify_merkle_proof(txid, raw, hex_branch, pos, header)
        if branch:
            bad = [hex_branch[0][:-2] + ("00" if hex_branch[0][-2:] != "00" else "11")]
            with pytest.raises(BadMerkleProof):
                verify_merkle_proof(txid, raw, bad + hex_branch[1:], pos, header)
            if branch[0] != leaves[pos]:  # a duplicated last node proves both positions
                with pytest.raises(BadMerkleProof):
                    verify_merkle_proof(txid, raw, hex_branch, pos ^ 1, header)


def test_malformed_branches_and_64_byte_transactions_are_refused() -> None:
    txid = "11" * 32
    with pytest.raises(BadMerkleProof):
        merkle_root_from_branch(txid, ["zz" * 32], 0)
    with pytest.raises(BadMerkleProof):
        merkle_root_from_branch(txid, ["00" * 31], 0)
    with pytest.raises(BadMerkleProof, match="does not fit"):
        merkle_root_from_branch(txid, ["00" * 32], 2)
    raw = os.urandom(64)
    leaf = dsha(raw)
    with pytest.raises(BadMerkleProof, match="64 bytes"):
        verify_merkle_proof(leaf[::-1].hex(), raw, [], 0, _block(leaf))
