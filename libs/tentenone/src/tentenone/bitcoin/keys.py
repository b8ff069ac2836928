"""Secret and public keys.

Public names (stable): ``new_secret_key``, ``public_key`` (33-byte compressed),
``xonly_public_key`` (32-byte BIP-340), ``check_public_key``.
"""

from __future__ import annotations

import os

from tentenone.bitcoin.curve import CURVE_ORDER, base_mult, point_from_bytes, scalar_from_bytes

__all__ = ["check_public_key", "new_secret_key", "public_key", "xonly_public_key"]


def new_secret_key() -> bytes:
    """32 random bytes from the OS that are a valid secret key (1..n-1)."""
    while True:
        candidate = os.urandom(32)
        if 0 < int.from_bytes(candidate, "big") < CURVE_ORDER:
            return candidate


def public_key(secret_key: bytes) -> bytes:
    """The compressed SEC1 public key (33 bytes) of a secret key."""
    return base_mult(scalar_from_bytes(secret_key, "secret key")).format()


def xonly_public_key(secret_key: bytes) -> bytes:
    """The BIP-340 x-only public key (32 bytes) of a secret key."""
    return public_key(secret_key)[1:]


def check_public_key(pubkey: bytes, what: str = "public key") -> bytes:
    """``pubkey`` if it is a valid compressed point, else ``InvalidPoint`` naming ``what``."""
    point_from_bytes(pubkey, what)
    return pubkey
