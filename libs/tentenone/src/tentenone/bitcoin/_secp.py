"""The few libsecp256k1 calls coincurve does not wrap, reached through its cffi handle.

Kept in one private module so the untyped foreign interface stays here.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from coincurve import PublicKey
from coincurve.context import GLOBAL_CONTEXT

__all__ = ["Scratch", "VerifyScratch", "negate", "nonce_data"]

_binding: Any = import_module("coincurve._libsecp256k1")
_ffi: Any = _binding.ffi
_lib: Any = _binding.lib


def negate(point: PublicKey) -> PublicKey:
    """-P, without the scalar multiplication by n-1 the public API would need."""
    out = _ffi.new("secp256k1_pubkey *", point.public_key[0])
    _lib.secp256k1_ec_pubkey_negate(GLOBAL_CONTEXT.ctx, out)
    return PublicKey(out)


def nonce_data(extra: bytes) -> tuple[Any, Any]:
    """A ``custom_nonce`` for coincurve's ``sign``: RFC 6979 with 32 bytes of extra data."""
    return (_ffi.NULL, _ffi.new("unsigned char[32]", extra))


def _write_compressed_point(output: Any, x32: Any, y32: Any, _data: Any) -> int:
    """An ECDH "hash" that returns the shared point itself, compressed."""
    output[0] = 2 | (y32[31] & 1)
    _ffi.memmove(output + 1, x32, 32)
    return 1


# Kept referenced for the life of the process: libsecp256k1 calls it back.
_WRITE_POINT: Any = _ffi.callback(
    "int(unsigned char *, const unsigned char *, const unsigned char *, void *)",
    _write_compressed_point,
)


class Scratch:
    """Reusable buffers for hot loops: k*G and k*P straight to 33-byte encodings.

    Both multiplications are constant-time, for secret scalars (nonces):
    k*G is libsecp256k1's key generation, k*P its ECDH multiplication with a
    hash step that returns the point. Skipping a coincurve object per
    operation is a large share of the cost of thousands of adaptor
    signatures. One per thread (its buffers are reused); scalars must be
    valid (1..n-1, 32 bytes), which callers have checked.
    """

    def __init__(self) -> None:
        self._ctx = GLOBAL_CONTEXT.ctx
        self._point = _ffi.new("secp256k1_pubkey *")
        self._out = _ffi.new("unsigned char[33]")
        self._out_buffer = _ffi.buffer(self._out, 33)
        self._out_len = _ffi.new("size_t *")
        self._compressed = _lib.SECP256K1_EC_COMPRESSED

    def base_mult(self, k32: bytes) -> bytes:
        if not _lib.secp256k1_ec_pubkey_create(self._ctx, self._point, k32):
            raise ValueError("invalid scalar")
        self._out_len[0] = 33
        _lib.secp256k1_ec_pubkey_serialize(
            self._ctx, self._out, self._out_len, self._point, self._compressed
        )
        encoded: bytes = self._out_buffer[:]
        return encoded

    def point_mult(self, point: PublicKey, k32: bytes) -> bytes:
        if not _lib.secp256k1_ecdh(
            self._ctx, self._out, point.public_key, k32, _WRITE_POINT, _ffi.NULL
        ):
            raise ValueError("invalid scalar")
        encoded: bytes = self._out_buffer[:]
        return encoded

    def both(self, point: PublicKey, k32: bytes) -> tuple[bytes, bytes]:
        """``(k*G, k*P)``: the pair a DLEQ statement or proof commitment needs."""
        return self.base_mult(k32), self.point_mult(point, k32)


class VerifyScratch:
    """Variable-time linear combinations of *public* points, for verifiers.

    ``mul_add_g`` gets ``a*P + g*G`` from one ``secp256k1_ecdsa_recover``: recovery
    computes ``r⁻¹(s*R - m*G)`` with one Strauss multiplication (the generator
    from its precomputed table), against two separate multiplications and an
    addition through the public API. One per thread.
    """

    def __init__(self) -> None:
        self._ctx = GLOBAL_CONTEXT.ctx
        self._rsig = _ffi.new("secp256k1_ecdsa_recoverable_signature *")
        self._a = _ffi.new("secp256k1_pubkey *")
        self._b = _ffi.new("secp256k1_pubkey *")
        self._sum = _ffi.new("secp256k1_pubkey *")
        self._pair = _ffi.new("secp256k1_pubkey *[2]", [self._a, self._b])
        self._out = _ffi.new("unsigned char[33]")
        self._out_buffer = _ffi.buffer(self._out, 33)
        self._out_len = _ffi.new("size_t *")
        self._compressed = _lib.SECP256K1_EC_COMPRESSED

    def _serialize(self, point: Any) -> bytes:
        self._out_len[0] = 33
        _lib.secp256k1_ec_pubkey_serialize(
            self._ctx, self._out, self._out_len, point, self._compressed
        )
        encoded: bytes = self._out_buffer[:]
        return encoded

    def mul_add_g(self, p33: bytes, a: int, g: int) -> bytes | None:
        """``a*P + g*G`` compressed, None at infinity. ``P`` (33 bytes, compressed)
        must have ``x < n`` and ``a`` must be non-zero mod n (callers check: else
        they take the generic path); ``P`` off the curve gives None."""
        r = int.from_bytes(p33[1:], "big")
        s = a * r % _N
        m = -g * r % _N
        compact = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if not _lib.secp256k1_ecdsa_recoverable_signature_parse_compact(
            self._ctx, self._rsig, compact, p33[0] & 1
        ):
            return None
        if not _lib.secp256k1_ecdsa_recover(
            self._ctx, self._sum, self._rsig, m.to_bytes(32, "big")
        ):
            return None
        return self._serialize(self._sum)

    def lincomb(self, p: PublicKey, a32: bytes, q33: bytes, b32: bytes) -> bytes | None:
        """``a*P + b*Q`` compressed (``Q`` compressed bytes), None at infinity or when
        ``Q`` is not a point; both scalars valid and non-zero."""
        _ffi.memmove(self._a, p.public_key, 64)
        if not _lib.secp256k1_ec_pubkey_tweak_mul(self._ctx, self._a, a32):
            return None
        if not _lib.secp256k1_ec_pubkey_parse(self._ctx, self._b, q33, 33):
            return None
        if not _lib.secp256k1_ec_pubkey_tweak_mul(self._ctx, self._b, b32):
            return None
        if not _lib.secp256k1_ec_pubkey_combine(self._ctx, self._sum, self._pair, 2):
            return None
        return self._serialize(self._sum)


#: the curve order (tentenone.bitcoin.curve imports this module)
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
