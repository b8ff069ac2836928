"""ECDSA signatures as Bitcoin uses them: RFC 6979 nonces, low R, low S, strict DER.

Public names (stable): ``sign`` (DER, low-R grinding as Bitcoin Core does),
``sign_compact``, ``verify`` (DER), ``verify_compact``, ``der_encode``,
``der_decode``, ``compact_to_der``, ``der_to_compact``, ``is_low_s``.

Signatures are over 32-byte digests (BIP-143 sighashes); the sighash type
byte is not part of these encodings (witnesses append it themselves).
"""

from __future__ import annotations

from coincurve import PrivateKey, PublicKey

from tentenone.bitcoin import _secp
from tentenone.bitcoin.curve import CURVE_ORDER, point_from_bytes, scalar_from_bytes
from tentenone.bitcoin.errors import InvalidSignatureEncoding

__all__ = [
    "compact_to_der",
    "der_decode",
    "der_encode",
    "der_to_compact",
    "is_low_s",
    "sign",
    "sign_compact",
    "verify",
    "verify_compact",
]

_HALF_ORDER = CURVE_ORDER // 2


def _check_digest(digest: bytes) -> None:
    if len(digest) != 32:
        raise InvalidSignatureEncoding(f"message digest: expected 32 bytes, got {len(digest)}")


def _der_int(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 8) // 8 or 1, "big")
    return b"\x02" + bytes([len(body)]) + body


def der_encode(r: int, s: int) -> bytes:
    """Strict DER (BIP-66) of ``(r, s)``, both in 1..n-1."""
    if not (0 < r < CURVE_ORDER and 0 < s < CURVE_ORDER):
        raise InvalidSignatureEncoding("signature r and s must be in 1..n-1")
    body = _der_int(r) + _der_int(s)
    return b"\x30" + bytes([len(body)]) + body


def _der_read_int(sig: bytes, pos: int, what: str) -> tuple[int, int]:
    if pos + 2 > len(sig) or sig[pos] != 0x02:
        raise InvalidSignatureEncoding(f"DER signature: {what} is not an INTEGER")
    length = sig[pos + 1]
    body = sig[pos + 2 : pos + 2 + length]
    if length == 0 or len(body) != length:
        raise InvalidSignatureEncoding(f"DER signature: {what} has a bad length")
    if body[0] & 0x80:
        raise InvalidSignatureEncoding(f"DER signature: {what} is negative")
    if length > 1 and body[0] == 0 and not body[1] & 0x80:
        raise InvalidSignatureEncoding(f"DER signature: {what} has excess padding")
    return int.from_bytes(body, "big"), pos + 2 + length


def der_decode(sig: bytes) -> tuple[int, int]:
    """``(r, s)`` of a strict DER signature (no sighash byte), both in 1..n-1."""
    if not 8 <= len(sig) <= 72 or sig[0] != 0x30 or sig[1] != len(sig) - 2:
        raise InvalidSignatureEncoding("not a DER signature (bad header or length)")
    r, pos = _der_read_int(sig, 2, "r")
    s, pos = _der_read_int(sig, pos, "s")
    if pos != len(sig):
        raise InvalidSignatureEncoding("DER signature: trailing bytes")
    if not (0 < r < CURVE_ORDER and 0 < s < CURVE_ORDER):
        raise InvalidSignatureEncoding("DER signature: r or s out of range")
    return r, s


def der_to_compact(sig: bytes) -> bytes:
    r, s = der_decode(sig)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def compact_to_der(sig: bytes) -> bytes:
    if len(sig) != 64:
        raise InvalidSignatureEncoding(f"compact signature: expected 64 bytes, got {len(sig)}")
    return der_encode(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))


def is_low_s(s: int) -> bool:
    return 0 < s <= _HALF_ORDER


def sign(secret_key: bytes, digest: bytes) -> bytes:
    """DER signature with RFC 6979 nonce, low S, and R ground below 2^255.

    Grinding R (as Bitcoin Core and rust-bitcoin's ``sign_ecdsa_low_r`` do)
    keeps DER signatures at 71 bytes at most, so a 72-byte estimate holds.
    """
    scalar_from_bytes(secret_key, "secret key")
    _check_digest(digest)
    key = PrivateKey(secret_key)
    sig: bytes = key.sign(digest, hasher=None)
    counter = 0
    while der_to_compact(sig)[0] >= 0x80:
        counter += 1
        extra = counter.to_bytes(4, "little") + bytes(28)
        sig = key.sign(digest, hasher=None, custom_nonce=_secp.nonce_data(extra))
    return sig


def sign_compact(secret_key: bytes, digest: bytes) -> bytes:
    return der_to_compact(sign(secret_key, digest))


def verify(pubkey: bytes, digest: bytes, der_sig: bytes) -> bool:
    """True when ``der_sig`` is a valid low-S signature of ``digest`` by ``pubkey``.

    Malformed keys or encodings raise a typed error; a well-formed signature
    that does not verify returns False.
    """
    return verify_compact(pubkey, digest, der_to_compact(der_sig))


def verify_compact(pubkey: bytes | PublicKey, digest: bytes, sig: bytes) -> bool:
    _check_digest(digest)
    if len(sig) != 64:
        raise InvalidSignatureEncoding(f"compact signature: expected 64 bytes, got {len(sig)}")
    key = pubkey if isinstance(pubkey, PublicKey) else point_from_bytes(pubkey, "public key")
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    if not (0 < r < CURVE_ORDER and is_low_s(s)):
        return False
    return bool(key.verify(der_encode(r, s), digest, hasher=None))
