"""Deterministic nonces: one per (event id, digit index), derived from the oracle's secret.

ADR 0070. With ``x`` the oracle's 32-byte secret::

    root = tagged_hash("tentenone/oracle/nonce-root/v1", x)
    k'   = int(tagged_hash("tentenone/oracle/nonce/v1",
                           root || u16(len(e)) || e || u16(i) || u8(c)))

where ``e`` is the event id in NFC UTF-8, ``i`` the nonce's index in the
announcement (0 = the first, leftmost digit) and ``c`` a counter starting at
0, bumped only in the (2**-128) case where ``k'`` is 0 or not below the group
order. ``tagged_hash`` is BIP-340's: ``sha256(sha256(tag) || sha256(tag) || m)``.
If ``k'·G`` has an odd y, ``k = n - k'`` so ``R = k·G`` has the even y BIP-340
expects; the announcement carries ``R``'s x coordinate.

Why this shape:

- Hardened: every nonce needs the secret. Public data (the key, the event id,
  other nonces, signatures of other events) gives nothing about it, and the
  database holds no nonce secrets at all, unlike oracles that store k-values.
- Domain-separated: the tags appear nowhere else, so no other hash of the
  key (signatures, other protocols) can collide with a nonce.
- Deterministic: a restart, a restore from backup or a second replica derive
  the same nonce for the same (event, index), so an announced event can
  never be re-announced with different nonces.

The price of determinism: the nonce does not depend on the message, so
signing two different outcomes for one event leaks the key. The attestation
store makes that impossible (one outcome per event, a unique constraint, and
signatures released only after they are committed): see ``attestations.py``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import coincurve

from tentenone.bitcoin.hashes import tagged_hash
from tentenone.errors import InvalidInput

__all__ = [
    "NONCE_ROOT_TAG",
    "NONCE_TAG",
    "DerivedNonce",
    "NonceDeriver",
]

NONCE_ROOT_TAG = "tentenone/oracle/nonce-root/v1"
NONCE_TAG = "tentenone/oracle/nonce/v1"
_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_MAX_EVENT_ID = 0xFFFF
_MAX_INDEX = 0xFFFF


@dataclass(frozen=True, slots=True)
class DerivedNonce:
    """A secret nonce ``k`` (32 bytes, ``k·G`` has even y) and its public x coordinate."""

    secret: bytes = field(repr=False)
    public: bytes


class NonceDeriver:
    """Derives nonces for one oracle key; holds the root, never the key itself."""

    def __init__(self, oracle_secret: bytes) -> None:
        if len(oracle_secret) != 32:
            raise InvalidInput("oracle secret must be 32 bytes")
        self._root = tagged_hash(NONCE_ROOT_TAG, oracle_secret)

    def __repr__(self) -> str:
        return "NonceDeriver(<root hidden>)"

    def nonce(self, event_id: str, index: int) -> DerivedNonce:
        """The nonce for digit ``index`` of ``event_id``."""
        encoded = _event_id_bytes(event_id)
        if not isinstance(index, int) or not 0 <= index <= _MAX_INDEX:
            raise InvalidInput(f"nonce index must be 0..{_MAX_INDEX}, got {index!r}")
        prefix = self._root + len(encoded).to_bytes(2, "big") + encoded + index.to_bytes(2, "big")
        for counter in range(256):
            k = int.from_bytes(tagged_hash(NONCE_TAG, prefix + bytes([counter])), "big")
            if 0 < k < _ORDER:
                return _even_y(k)
        raise AssertionError("no valid nonce in 256 tries")  # probability 2**-32768

    def nonces(self, event_id: str, count: int) -> list[DerivedNonce]:
        """The ``count`` nonces of an announcement, in order."""
        if not isinstance(count, int) or not 1 <= count <= _MAX_INDEX + 1:
            raise InvalidInput(f"nonce count must be 1..{_MAX_INDEX + 1}, got {count!r}")
        return [self.nonce(event_id, i) for i in range(count)]


def _event_id_bytes(event_id: str) -> bytes:
    if not isinstance(event_id, str) or not event_id:
        raise InvalidInput("event id must be a non-empty string")
    if unicodedata.normalize("NFC", event_id) != event_id:
        # dlcspecs strings are NFC UTF-8; two spellings of one id must not mean two nonces.
        raise InvalidInput(f"event id {event_id!r} is not NFC-normalized")
    encoded = event_id.encode()
    if len(encoded) > _MAX_EVENT_ID:
        raise InvalidInput(f"event id is {len(encoded)} bytes, more than {_MAX_EVENT_ID}")
    return encoded


def _even_y(k: int) -> DerivedNonce:
    point = coincurve.PrivateKey(k.to_bytes(32, "big")).public_key.format(compressed=True)
    if point[0] == 3:
        k = _ORDER - k
    return DerivedNonce(k.to_bytes(32, "big"), point[1:])
