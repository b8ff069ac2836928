"""BIP-340 Schnorr signatures, as oracles use them (dlcspecs Oracle.md).

Public names (stable):

- ``sign(secret_key, msg32, aux=...)``: BIP-340 signing (libsecp256k1)
- ``sign_with_nonce(secret_key, nonce_secret, msg32)``: BIP-340 with a nonce
  fixed in advance, as an oracle must sign with the nonce it announced
- ``verify(public_key, msg32, signature) -> bool``
- ``signature_point(public_key, nonce, msg32)``: s*G = R + e*P computed from
  public values only (the adaptor point of one outcome)
- ``challenge(nonce_x, pubkey_x, msg32)``: ``H_BIP0340/challenge(R || P || m)`` mod n
- ``public_key(secret_key)``: the 32-byte x-only key; ``nonce_point(nonce_secret)``

Keys, nonces and signatures are x-only (32-byte) as BIP-340 writes them.
"""

from __future__ import annotations

import os

from coincurve import PrivateKey, PublicKeyXOnly

from tentenone.bitcoin.curve import (
    CURVE_ORDER,
    Point,
    base_mult,
    has_even_y,
    point_from_xonly,
    point_mult,
    point_sum,
    scalar_from_bytes,
    xonly,
)
from tentenone.bitcoin.errors import InvalidSignatureEncoding
from tentenone.bitcoin.hashes import tagged_hasher
from tentenone.errors import InvalidInput

__all__ = [
    "challenge",
    "nonce_point",
    "public_key",
    "sign",
    "sign_with_nonce",
    "signature_point",
    "verify",
]


def _check_msg(msg32: bytes) -> None:
    if not isinstance(msg32, bytes) or len(msg32) != 32:
        raise InvalidInput("message: BIP-340 signs a 32-byte message", field="message")


def challenge(nonce_x: bytes, pubkey_x: bytes, msg32: bytes) -> int:
    """BIP-340 ``e = int(hash_BIP0340/challenge(bytes(R) || bytes(P) || m)) mod n``."""
    h = tagged_hasher("BIP0340/challenge").copy()
    h.update(nonce_x + pubkey_x + msg32)
    return int.from_bytes(h.digest(), "big") % CURVE_ORDER


def public_key(secret_key: bytes) -> bytes:
    scalar_from_bytes(secret_key, "secret key")
    return xonly(base_mult(int.from_bytes(secret_key, "big")))


def nonce_point(nonce_secret: bytes) -> bytes:
    """The x-only R an oracle announces for a nonce secret."""
    return public_key(nonce_secret)


def sign(secret_key: bytes, msg32: bytes, aux: bytes | None = None) -> bytes:
    """BIP-340 signature with fresh auxiliary randomness unless ``aux`` is given."""
    scalar_from_bytes(secret_key, "secret key")
    _check_msg(msg32)
    aux_rand = os.urandom(32) if aux is None else aux
    if len(aux_rand) != 32:
        raise InvalidInput("aux randomness: expected 32 bytes", field="aux")
    sig: bytes = PrivateKey(secret_key).sign_schnorr(msg32, aux_rand)
    return sig


def sign_with_nonce(secret_key: bytes, nonce_secret: bytes, msg32: bytes) -> bytes:
    """BIP-340 signing with the nonce secret k chosen beforehand (and announced as R).

    Follows BIP-340's Sign with ``k'`` given instead of derived: d = d' or n-d'
    so that P has an even y; k = k' or n-k' so that R has an even y;
    s = k + e*d. The caller must never sign two messages with one nonce
    (that reveals the key); the oracle service enforces it.
    """
    _check_msg(msg32)
    d0 = scalar_from_bytes(secret_key, "secret key")
    k0 = scalar_from_bytes(nonce_secret, "nonce secret")
    p = base_mult(d0)
    r = base_mult(k0)
    d = d0 if has_even_y(p) else CURVE_ORDER - d0
    k = k0 if has_even_y(r) else CURVE_ORDER - k0
    rx = xonly(r)
    e = challenge(rx, xonly(p), msg32)
    return rx + ((k + e * d) % CURVE_ORDER).to_bytes(32, "big")


def verify(public_key: bytes, msg32: bytes, signature: bytes) -> bool:
    """BIP-340 verification. Wrong lengths or a key off the curve raise a typed error."""
    _check_msg(msg32)
    if len(signature) != 64:
        raise InvalidSignatureEncoding(
            f"BIP-340 signature: expected 64 bytes, got {len(signature)}"
        )
    point_from_xonly(public_key, "public key")
    return bool(PublicKeyXOnly(public_key).verify(signature, msg32))


def signature_point(public_key: bytes | Point, nonce: bytes | Point, msg32: bytes) -> Point:
    """s*G of the signature the oracle will publish: R + e*P (R and P with even y)."""
    _check_msg(msg32)
    p = public_key if isinstance(public_key, Point) else point_from_xonly(public_key, "oracle key")
    r = nonce if isinstance(nonce, Point) else point_from_xonly(nonce, "oracle nonce")
    e = challenge(xonly(r), xonly(p), msg32)
    return point_sum([r, point_mult(p, e)])
