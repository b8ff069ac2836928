"""Block headers and a header chain checked for continuity and proof of work.

The rules are Bitcoin Core's ``CheckProofOfWork`` and ``GetNextWorkRequired``
(pow.cpp): the target from ``nBits`` must be positive, not overflow and not
exceed the network's pow limit; the header hash must not exceed the target;
and ``nBits`` must be what the previous headers require (retargeting every
2016 blocks, the testnet/regtest min-difficulty rule, regtest's
``fPowNoRetargeting``). Signet's block signature lives in the coinbase, which
a header client does not see: on signet only the proof of work is checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tentenone.chain.errors import BadHeader, ReorgTooDeep
from tentenone.chain.network import ChainParams

__all__ = [
    "HEADER_SIZE",
    "BlockHeader",
    "ChainUpdate",
    "HeaderChain",
    "LessWork",
    "NotConnected",
    "bits_to_target",
    "target_to_bits",
    "work_of",
]

HEADER_SIZE = 80


def _dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """An 80-byte block header; hashes are shown in the usual reversed hex."""

    raw: bytes
    hash: str = field(init=False)

    def __post_init__(self) -> None:
        if len(self.raw) != HEADER_SIZE:
            raise BadHeader(f"a block header is {HEADER_SIZE} bytes, got {len(self.raw)}")
        object.__setattr__(self, "hash", _dsha(self.raw)[::-1].hex())

    @classmethod
    def from_hex(cls, text: str) -> BlockHeader:
        try:
            return cls(bytes.fromhex(text))
        except (ValueError, TypeError) as exc:
            raise BadHeader(f"block header is not hex: {exc}") from None

    @property
    def version(self) -> int:
        return int.from_bytes(self.raw[0:4], "little", signed=True)

    @property
    def prev_hash(self) -> str:
        return self.raw[4:36][::-1].hex()

    @property
    def merkle_root(self) -> bytes:
        """The merkle root in internal (little-endian) byte order."""
        return self.raw[36:68]

    @property
    def time(self) -> int:
        return int.from_bytes(self.raw[68:72], "little")

    @property
    def bits(self) -> int:
        return int.from_bytes(self.raw[72:76], "little")

    @property
    def nonce(self) -> int:
        return int.from_bytes(self.raw[76:80], "little")

    @property
    def hash_int(self) -> int:
        return int(self.hash, 16)


def bits_to_target(bits: int) -> int:
    """Decode compact ``nBits``; raise ``BadHeader`` for negative, zero or overflowing targets."""
    exponent = bits >> 24
    mantissa = bits & 0x007FFFFF
    if bits & 0x00800000 and mantissa:
        raise BadHeader(f"nBits {bits:#010x} encodes a negative target")
    if exponent <= 3:
        target = mantissa >> (8 * (3 - exponent))
    else:
        if mantissa and (
            exponent > 34
            or (mantissa > 0xFF and exponent > 33)
            or (mantissa > 0xFFFF and exponent > 32)
        ):
            raise BadHeader(f"nBits {bits:#010x} overflows 256 bits")
        target = mantissa << (8 * (exponent - 3))
    if target == 0:
        raise BadHeader(f"nBits {bits:#010x} encodes a zero target")
    return target


def target_to_bits(target: int) -> int:
    """Encode a target as compact ``nBits`` (``arith_uint256::GetCompact``)."""
    size = (target.bit_length() + 7) // 8
    compact = target << (8 * (3 - size)) if size <= 3 else target >> (8 * (size - 3))
    if compact & 0x00800000:
        compact >>= 8
        size += 1
    return compact | (size << 24)


def work_of(bits: int) -> int:
    """The expected number of hashes for a header with this ``nBits`` (``GetBlockProof``)."""
    return (1 << 256) // (bits_to_target(bits) + 1)


class NotConnected(Exception):
    """The headers do not connect to any header we hold: fetch from further back."""


class LessWork(Exception):
    """The offered branch has no more work than ours: the server is behind or on a stale fork."""


@dataclass(frozen=True, slots=True)
class ChainUpdate:
    """What ``HeaderChain.connect`` changed."""

    fork_height: int
    """Height of the last header both the old and the new chain share."""
    disconnected: tuple[str, ...]
    """Hashes of our headers that the new branch replaced, lowest first (empty: no reorg)."""
    connected: tuple[str, ...]
    """Hashes of the headers appended, lowest first."""

    @property
    def is_reorg(self) -> bool:
        return bool(self.disconnected)


class HeaderChain:
    """Our best header chain from ``base_height`` (genesis or a trusted checkpoint) to the tip.

    The headers at and below ``base_height`` are trusted as given. Every
    header above it is checked before it is accepted; a branch replaces our
    headers only when it carries more work.
    """

    def __init__(
        self,
        params: ChainParams,
        base_height: int,
        headers: Sequence[BlockHeader],
        *,
        max_reorg_depth: int = 100,
    ) -> None:
        if not headers:
            raise ValueError("a header chain starts from at least one trusted header")
        self.params = params
        self.base_height = base_height
        self.max_reorg_depth = max_reorg_depth
        self._headers: list[BlockHeader] = list(headers)
        self._height_by_hash = {h.hash: base_height + i for i, h in enumerate(self._headers)}
        # header hash -> nBits of the last header at or before it not mined under the
        # min-difficulty exception; depends on ancestors only, so it survives reorgs.
        self._walk_cache: dict[str, int] = {}

    @property
    def tip_height(self) -> int:
        return self.base_height + len(self._headers) - 1

    @property
    def tip(self) -> BlockHeader:
        return self._headers[-1]

    def header_at(self, height: int) -> BlockHeader | None:
        if self.base_height <= height <= self.tip_height:
            return self._headers[height - self.base_height]
        return None

    def height_of(self, block_hash: str) -> int | None:
        return self._height_by_hash.get(block_hash)

    def headers_from(self, height: int) -> list[BlockHeader]:
        return self._headers[max(0, height - self.base_height) :]

    def connect(self, start_height: int, headers: Sequence[BlockHeader]) -> ChainUpdate:
        """Check ``headers`` (heights ``start_height``...) and make them part of our chain.

        Raises ``BadHeader`` if any fails a rule, ``NotConnected`` if the
        first does not build on a header we hold, ``LessWork`` if the branch
        would replace ours without more work, ``ReorgTooDeep`` if it forks
        deeper than ``max_reorg_depth``.
        """
        if not headers:
            return ChainUpdate(self.tip_height, (), ())
        parent = self.header_at(start_height - 1)
        if parent is None or parent.hash != headers[0].prev_hash:
            raise NotConnected(f"header at {start_height} does not build on our chain")
        fork = start_height - 1
        # Skip the headers we already hold: a server resends them after a reconnection.
        skip = 0
        while skip < len(headers) and self.header_at(start_height + skip) == headers[skip]:
            skip += 1
        fork += skip
        branch = list(headers[skip:])
        if not branch:
            return ChainUpdate(self.tip_height, (), ())
        if self.tip_height - fork > self.max_reorg_depth:
            raise ReorgTooDeep(
                f"branch forks at height {fork}, {self.tip_height - fork} blocks below our "
                f"tip; the limit is {self.max_reorg_depth}"
            )
        self._check_branch(fork, branch)
        ours = self._headers[fork + 1 - self.base_height :]
        if ours and sum(work_of(h.bits) for h in branch) <= sum(work_of(h.bits) for h in ours):
            raise LessWork(f"branch from height {fork + 1} has no more work than ours")
        for old in ours:
            del self._height_by_hash[old.hash]
        del self._headers[fork + 1 - self.base_height :]
        for i, header in enumerate(branch):
            self._headers.append(header)
            self._height_by_hash[header.hash] = fork + 1 + i
        return ChainUpdate(fork, tuple(h.hash for h in ours), tuple(h.hash for h in branch))

    def _check_branch(self, fork: int, branch: Sequence[BlockHeader]) -> None:
        def lookup(height: int) -> BlockHeader | None:
            if height > fork:
                index = height - fork - 1
                return branch[index] if index < len(branch) else None
            return self.header_at(height)

        for i, header in enumerate(branch):
            height = fork + 1 + i
            prev = lookup(height - 1)
            assert prev is not None
            if header.prev_hash != prev.hash:
                raise BadHeader(f"header at {height} does not build on the header before it")
            self._check_pow(header, height)
            expected = _next_bits(self.params, height, header.time, lookup, self._walk_cache)
            if expected is not None and header.bits != expected:
                raise BadHeader(
                    f"header at {height} has nBits {header.bits:#010x}, "
                    f"the chain requires {expected:#010x}"
                )

    def _check_pow(self, header: BlockHeader, height: int) -> None:
        target = bits_to_target(header.bits)
        if target > self.params.pow_limit:
            raise BadHeader(f"header at {height} has a target above the network's pow limit")
        if header.hash_int > target:
            raise BadHeader(
                f"header at {height} ({header.hash}) does not meet its target: not enough work"
            )


def _next_bits(
    params: ChainParams,
    height: int,
    time: int,
    lookup: Callable[[int], BlockHeader | None],
    walk_cache: dict[str, int],
) -> int | None:
    """``GetNextWorkRequired`` for the header at ``height``; None where history is missing."""
    prev = lookup(height - 1)
    if prev is None:
        return None
    interval = params.adjustment_interval
    limit_bits = target_to_bits(params.pow_limit)
    if height % interval != 0:
        if not params.allow_min_difficulty:
            return prev.bits
        if time > prev.time + params.target_spacing_s * 2:
            return limit_bits
        return _last_regular_bits(height - 1, prev, interval, limit_bits, lookup, walk_cache)
    if params.no_retargeting:
        return prev.bits
    first = lookup(height - interval)
    if first is None:
        return None
    span = prev.time - first.time
    span = max(params.target_timespan_s // 4, min(span, params.target_timespan_s * 4))
    target = bits_to_target(prev.bits) * span // params.target_timespan_s
    return target_to_bits(min(target, params.pow_limit))


def _last_regular_bits(
    height: int,
    header: BlockHeader,
    interval: int,
    limit_bits: int,
    lookup: Callable[[int], BlockHeader | None],
    cache: dict[str, int],
) -> int | None:
    """nBits of the last header at or below ``height`` not mined under the min-difficulty rule."""
    path: list[str] = []
    result: int | None = None
    while result is None:
        if height % interval == 0 or header.bits != limit_bits:
            result = header.bits
        elif header.hash in cache:
            result = cache[header.hash]
        else:
            path.append(header.hash)
            earlier = lookup(height - 1)
            if earlier is None:
                return None
            height, header = height - 1, earlier
    for block_hash in path:
        cache[block_hash] = result
    return result
