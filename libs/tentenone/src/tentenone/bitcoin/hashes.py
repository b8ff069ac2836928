"""Hash functions of Bitcoin: SHA256, double SHA256, HASH160, BIP-340 tagged hashes."""

from __future__ import annotations

import hashlib
from functools import cache

from embit.hashes import ripemd160 as _ripemd160

__all__ = ["hash160", "hash256", "sha256", "tagged_hash", "tagged_hasher"]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash256(data: bytes) -> bytes:
    """SHA256(SHA256(data)): transaction ids and BIP-143 digests."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash160(data: bytes) -> bytes:
    """RIPEMD160(SHA256(data)): P2PKH and P2WPKH key hashes."""
    # embit's ripemd160 falls back to pure Python where OpenSSL dropped it.
    digest: bytes = _ripemd160(hashlib.sha256(data).digest())
    return digest


@cache
def tagged_hasher(tag: str) -> hashlib._Hash:
    """A SHA256 object that has absorbed ``SHA256(tag) || SHA256(tag)`` (BIP-340).

    Callers ``.copy()`` it; the midstate saves one compression per hash.
    """
    tag_digest = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(tag_digest + tag_digest)


def tagged_hash(tag: str, data: bytes) -> bytes:
    """BIP-340 ``hash_tag(data) = SHA256(SHA256(tag) || SHA256(tag) || data)``."""
    h = tagged_hasher(tag).copy()
    h.update(data)
    return h.digest()
