"""SPV: check that a transaction is in a block by its merkle branch."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from tentenone.chain.errors import BadMerkleProof
from tentenone.chain.headers import BlockHeader

__all__ = ["merkle_root_from_branch", "verify_merkle_proof"]


def _dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def merkle_root_from_branch(txid: str, branch: Sequence[str], pos: int) -> bytes:
    """The merkle root (internal byte order) that ``branch`` proves for ``txid`` at ``pos``.

    Hashes are given in the reversed hex the Electrum protocol uses.
    """
    if pos < 0 or pos >> len(branch):
        raise BadMerkleProof(f"position {pos} does not fit a branch of {len(branch)} hashes")
    try:
        node = bytes.fromhex(txid)[::-1]
        siblings = [bytes.fromhex(h)[::-1] for h in branch]
    except (ValueError, TypeError) as exc:
        raise BadMerkleProof(f"merkle branch is not hex: {exc}") from None
    if len(node) != 32 or any(len(s) != 32 for s in siblings):
        raise BadMerkleProof("merkle branch hashes must be 32 bytes")
    index = pos
    for sibling in siblings:
        node = _dsha(sibling + node) if index & 1 else _dsha(node + sibling)
        index >>= 1
    return node


def verify_merkle_proof(
    txid: str, raw_tx: bytes, branch: Sequence[str], pos: int, header: BlockHeader
) -> None:
    """Raise ``BadMerkleProof`` unless ``raw_tx`` is ``txid`` and sits in ``header``'s block.

    A 64-byte transaction could pose as an inner merkle node (the CVE-2017-12842
    ambiguity); such transactions are non-standard, so they are refused here.
    """
    if len(raw_tx) == 64:
        raise BadMerkleProof(f"transaction {txid} is 64 bytes: refused, it could forge a proof")
    root = merkle_root_from_branch(txid, branch, pos)
    if root != header.merkle_root:
        raise BadMerkleProof(
            f"merkle branch for {txid} at position {pos} does not lead to the merkle root "
            f"of block {header.hash}"
        )
