"""ECDSA adaptor signatures (dlcspecs ECDSA-adaptor.md), on coincurve.

Public names (stable):

- ``AdaptorSignature``: the parsed 162-byte blob ``R || R_a || s_a || b || c``
  (``from_bytes`` / ``to_bytes``); ``ADAPTOR_SIGNATURE_SIZE = 162``
- ``encrypt(secret_key, encryption_key, message_hash, aux=...)`` (sign)
- ``verify(public_key, encryption_key, message_hash, signature) -> bool``
- ``decrypt(signature, decryption_key) -> bytes`` (64-byte compact ECDSA, low S)
- ``recover(encryption_key, signature, ecdsa_signature) -> bytes`` (32-byte key)
- ``encrypt_many`` / ``verify_many``: the same over many (point, digest) pairs,
  batching the scalar inversions, optionally spread over an ``Executor``
- errors: ``AdaptorSignatureEncodingError``, ``AdaptorRecoveryError``

Keys and points are 32-byte scalars / 33-byte compressed points, or parsed
``Point`` objects where a caller already holds them (faster in batches).

Nonces: the spec leaves ``sample_nonce`` open and recommends adding system
randomness. We use the nonce function of secp256k1-zkp's ecdsa_adaptor module
(BIP-340 style tagged hashes "ECDSAadaptor/non", "ECDSAadaptor/aux" and "DLEQ")
with 32 fresh random bytes by default, so signatures never reuse a nonce. Given
the same 32 aux bytes, a signature equals the reference's byte for byte (pinned
by its author's static signing vectors in the tests); ``aux=None`` is its
no-randomness mode, for tests. See docs/adr/0022.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from enum import Enum
from typing import Final

from coincurve import PublicKey

from tentenone.bitcoin.curve import (
    CURVE_ORDER,
    MultScratch,
    Point,
    VerifyScratch,
    base_mult,
    inverse_many,
    point_from_bytes,
    point_mult,
    point_sum,
    scalar_from_bytes,
    scalar_to_bytes,
)
from tentenone.bitcoin.errors import BitcoinError, InvalidPoint, InvalidScalar
from tentenone.bitcoin.hashes import tagged_hasher
from tentenone.errors import InvalidInput

__all__ = [
    "ADAPTOR_SIGNATURE_SIZE",
    "FRESH",
    "AdaptorRecoveryError",
    "AdaptorSignature",
    "AdaptorSignatureEncodingError",
    "AuxRandomness",
    "decrypt",
    "encrypt",
    "encrypt_many",
    "recover",
    "verify",
    "verify_many",
]

ADAPTOR_SIGNATURE_SIZE: Final = 162
_HALF_ORDER = CURVE_ORDER // 2


class AuxRandomness(Enum):
    """``aux=FRESH`` (the default): 32 bytes from the OS for every signature."""

    FRESH = "fresh"


FRESH = AuxRandomness.FRESH


class AdaptorSignatureEncodingError(InvalidInput):
    """Bytes that are not a well-formed 162-byte adaptor signature."""

    code = "dlc_adaptor_signature_malformed"


class AdaptorRecoveryError(InvalidInput):
    """The ECDSA signature was not decrypted from this adaptor signature and key."""

    code = "dlc_adaptor_recovery_failed"


@dataclass(frozen=True, slots=True)
class AdaptorSignature:
    """``(R, R_a, s_a, proof=(b, c))`` of ECDSA-adaptor.md.

    ``r_point`` = k*Y (its x coordinate is the ECDSA ``r``), ``r_a`` = k*G,
    ``s_a`` the encrypted ``s``; ``proof_b``, ``proof_c`` the DLEQ proof that
    ``r_a`` and ``r_point`` share the discrete logarithm k.
    """

    r_point: bytes
    r_a: bytes
    s_a: int
    proof_b: int
    proof_c: int

    @classmethod
    def from_bytes(cls, data: bytes) -> AdaptorSignature:
        """Parse and check the 162-byte encoding (points on the curve, scalars in range)."""
        if not isinstance(data, bytes | bytearray) or len(data) != ADAPTOR_SIGNATURE_SIZE:
            size = len(data) if isinstance(data, bytes | bytearray) else type(data).__name__
            raise AdaptorSignatureEncodingError(
                f"adaptor signature: expected {ADAPTOR_SIGNATURE_SIZE} bytes, got {size}"
            )
        data = bytes(data)
        try:
            point_from_bytes(data[0:33], "adaptor signature R")
            point_from_bytes(data[33:66], "adaptor signature R_a")
            s_a = scalar_from_bytes(data[66:98], "adaptor signature s_a")
            # b is a hash output reduced mod n in the challenge; c must be a scalar.
            b = int.from_bytes(data[98:130], "big")
            c = scalar_from_bytes(data[130:162], "adaptor signature proof c", allow_zero=True)
        except BitcoinError as exc:
            raise AdaptorSignatureEncodingError(exc.message, **exc.details) from None
        if b >= CURVE_ORDER:
            raise AdaptorSignatureEncodingError("adaptor signature proof b is not below n")
        if int.from_bytes(data[1:33], "big") % CURVE_ORDER == 0:
            raise AdaptorSignatureEncodingError("adaptor signature R has x = 0 mod n")
        return cls(data[0:33], data[33:66], s_a, b, c)

    def to_bytes(self) -> bytes:
        return (
            self.r_point
            + self.r_a
            + scalar_to_bytes(self.s_a)
            + scalar_to_bytes(self.proof_b)
            + scalar_to_bytes(self.proof_c)
        )

    @property
    def r(self) -> int:
        """The ECDSA ``r``: x coordinate of R modulo n."""
        return int.from_bytes(self.r_point[1:], "big") % CURVE_ORDER


def _as_point(value: bytes | Point, what: str) -> Point:
    return value if isinstance(value, PublicKey) else point_from_bytes(value, what)


def _as_signature(value: bytes | AdaptorSignature) -> AdaptorSignature:
    return value if isinstance(value, AdaptorSignature) else AdaptorSignature.from_bytes(value)


def _check_digest(message_hash: bytes) -> None:
    if not isinstance(message_hash, bytes) or len(message_hash) != 32:
        raise InvalidInput("message hash: expected 32 bytes", field="message_hash")


_AUX_HASHER: Final = tagged_hasher("ECDSAadaptor/aux")
_NONCE_HASHER: Final = tagged_hasher("ECDSAadaptor/non")
_DLEQ_HASHER: Final = tagged_hasher("DLEQ")


def _aux_mask(aux: bytes | None) -> int:
    """The "ECDSAadaptor/aux" hash of the aux randomness, XORed into nonce keys (0: none)."""
    if aux is None:
        return 0
    h = _AUX_HASHER.copy()
    h.update(aux)
    return int.from_bytes(h.digest(), "big")


def _nonce(tagged: hashlib._Hash, masked_key: int, pk33: bytes, msg32: bytes) -> int:
    """secp256k1-zkp's ``nonce_function_ecdsa_adaptor`` (a BIP-340 style nonce).

    ``tagged`` is the algorithm's tagged SHA256 ("ECDSAadaptor/non" or "DLEQ");
    ``masked_key`` the key XOR ``_aux_mask(aux)``.
    """
    h = tagged.copy()
    h.update(masked_key.to_bytes(32, "big") + pk33 + msg32)
    return int.from_bytes(h.digest(), "big") % CURVE_ORDER


def _dleq_challenge(x: bytes, y: bytes, z: bytes, a_g: bytes, a_y: bytes) -> int:
    """``H(X || Y || Z || A_G || A_Y)`` with the "DLEQ" tagged SHA256."""
    h = _DLEQ_HASHER.copy()
    h.update(x + y + z + a_g + a_y)
    return int.from_bytes(h.digest(), "big") % CURVE_ORDER


def _aux_values(aux: bytes | AuxRandomness | None, count: int) -> list[bytes | None]:
    """The aux randomness of each of ``count`` signatures (fresh: one OS read for all)."""
    if aux is AuxRandomness.FRESH:
        pool = os.urandom(32 * count)
        return [pool[i : i + 32] for i in range(0, 32 * count, 32)]
    if aux is not None and (not isinstance(aux, bytes) or len(aux) != 32):
        raise InvalidInput("aux randomness: expected 32 bytes or None", field="aux")
    return [aux] * count


_local = threading.local()


def _scratch() -> MultScratch:
    scratch: MultScratch | None = getattr(_local, "scratch", None)
    if scratch is None:
        scratch = _local.scratch = MultScratch()
    return scratch


def _verify_scratch() -> VerifyScratch:
    scratch: VerifyScratch | None = getattr(_local, "verify_scratch", None)
    if scratch is None:
        scratch = _local.verify_scratch = VerifyScratch()
    return scratch


def _encrypt_with_inverse(
    scratch: MultScratch, x: int, y_point: Point, y33: bytes, msg: bytes, aux: bytes | None
) -> tuple[int, bytes, bytes, int, int]:
    """``(k, R_a, R, b, c)``: everything of ``encrypt`` but the final ``k⁻¹``."""
    mask = _aux_mask(aux)
    k = _nonce(_NONCE_HASHER, x ^ mask, y33, msg)
    if k == 0:
        raise InvalidScalar("adaptor nonce is zero", field="nonce")
    r_a33, r33 = scratch.both(y_point, k.to_bytes(32, "big"))  # R_a = k*G, R = k*Y
    # DLEQ_prove(k, (R_a, Y, R)); nonce as secp256k1-zkp: msg = SHA256(R_a || R), pk = Y.
    a = _nonce(_DLEQ_HASHER, k ^ mask, y33, hashlib.sha256(r_a33 + r33).digest())
    if a == 0:
        raise InvalidScalar("DLEQ nonce is zero", field="nonce")
    a_g, a_y = scratch.both(y_point, a.to_bytes(32, "big"))
    b = _dleq_challenge(r_a33, y33, r33, a_g, a_y)
    return k, r_a33, r33, b, (a + b * k) % CURVE_ORDER


def encrypt(
    secret_key: bytes,
    encryption_key: bytes | Point,
    message_hash: bytes,
    aux: bytes | AuxRandomness | None = FRESH,
) -> AdaptorSignature:
    """``ecdsa_adaptor_encrypt(x, Y, message_hash)``.

    ``aux``: 32 random bytes are drawn by default; pass 32 bytes to fix them,
    or None for the deterministic nonce (tests and vectors only).
    """
    return encrypt_many(secret_key, [(encryption_key, message_hash)], aux=aux)[0]


def encrypt_many(
    secret_key: bytes,
    items: Sequence[tuple[bytes | Point, bytes]],
    *,
    aux: bytes | AuxRandomness | None = FRESH,
    executor: Executor | None = None,
    chunks: int = 0,
) -> list[AdaptorSignature]:
    """Adaptor signatures of many ``(encryption_key, message_hash)`` pairs.

    The per-signature ``k⁻¹`` is batched (one modular inversion in all). With
    an ``executor`` (e.g. a ProcessPoolExecutor) the pairs are split into
    ``chunks`` parts (default 8) signed in parallel; points are checked here
    and sent to the workers uncompressed.
    """
    x = scalar_from_bytes(secret_key, "secret key")
    if executor is not None and len(items) > 1:
        encoded = [(_point_bytes(p), m) for p, m in items]
        return _run_chunked(executor, _encrypt_chunk, encoded, chunks, (secret_key, aux))
    scratch = _scratch()
    prepared = []
    for (point, msg), aux_bytes in zip(items, _aux_values(aux, len(items)), strict=True):
        _check_digest(msg)
        y_point = _as_point(point, "encryption key")
        y33 = y_point.format()
        prepared.append(_encrypt_with_inverse(scratch, x, y_point, y33, msg, aux_bytes))
    k_inverses = inverse_many([p[0] for p in prepared])
    out = []
    for (_, r_a33, r33, b, c), k_inv, (_, msg) in zip(prepared, k_inverses, items, strict=True):
        r = int.from_bytes(r33[1:], "big") % CURVE_ORDER
        if r == 0:
            raise InvalidScalar("adaptor signature r is zero", field="r")
        s_a = k_inv * (int.from_bytes(msg, "big") + r * x) % CURVE_ORDER
        if s_a == 0:
            raise InvalidScalar("adaptor signature s_a is zero", field="s_a")
        out.append(AdaptorSignature(r33, r_a33, s_a, b, c))
    return out


def _point_bytes(point: bytes | Point) -> bytes:
    """A checked point for a worker process, uncompressed (65 bytes): the worker
    loads it without the square root a compressed point costs."""
    return _as_point(point, "encryption key").format(compressed=False)


def _worker_point(data: bytes) -> Point:
    return PublicKey(data)  # made by _point_bytes in the calling process


def _encrypt_chunk(
    args: tuple[Sequence[tuple[bytes, bytes]], tuple[bytes, bytes | AuxRandomness | None]],
) -> list[AdaptorSignature]:
    items, (secret_key, aux) = args
    return encrypt_many(secret_key, [(_worker_point(p), m) for p, m in items], aux=aux)


def _combination(c: int, p: Point | None, b: int, q: Point) -> Point:
    """``c*P - b*Q`` (``P`` None for the generator); zero terms are left out."""
    terms = []
    if c:
        terms.append(base_mult(c) if p is None else point_mult(p, c))
    if b:
        terms.append(point_mult(q, CURVE_ORDER - b))
    return point_sum(terms)


def _dleq_verify(
    x: Point, x33: bytes, y: Point, y33: bytes, z: Point, z33: bytes, b: int, c: int
) -> bool:
    """``DLEQ_verify((X, Y, Z), (b, c))``: recompute A_G, A_Y and the challenge."""
    try:
        a_g = _combination(c, None, b, x)
        a_y = _combination(c, y, b, z)
    except InvalidPoint:  # A_G or A_Y at infinity: cannot be the prover's commitments
        return False
    return _dleq_challenge(x33, y33, z33, a_g.format(), a_y.format()) == b


def _verify_with_inverse(
    x_point: Point, y_point: Point, y33: bytes, msg: bytes, sig: AdaptorSignature, s_inv: int
) -> bool:
    """The spec's verification, by separate multiplications (the general path)."""
    r_point = point_from_bytes(sig.r_point, "adaptor signature R")
    r_a = point_from_bytes(sig.r_a, "adaptor signature R_a")
    if not _dleq_verify(r_a, sig.r_a, y_point, y33, r_point, sig.r_point, sig.proof_b, sig.proof_c):
        return False
    u1 = s_inv * int.from_bytes(msg, "big") % CURVE_ORDER
    u2 = s_inv * sig.r % CURVE_ORDER
    try:
        implied = (
            point_sum([base_mult(u1), point_mult(x_point, u2)]) if u1 else point_mult(x_point, u2)
        )
    except InvalidPoint:
        return False
    return implied.format() == sig.r_a


def _fast_path(x33: bytes, sig: AdaptorSignature) -> bool:
    """Whether ``_verify_fast`` applies: every scalar it multiplies by is non-zero
    and the points it lifts from x have ``x < n`` (all but ~2⁻¹²⁸ of signatures)."""
    return (
        sig.proof_b != 0
        and sig.proof_c != 0
        and int.from_bytes(sig.r_a[1:], "big") < CURVE_ORDER
        and int.from_bytes(x33[1:], "big") < CURVE_ORDER
    )


def _verify_fast(
    scratch: VerifyScratch,
    x33: bytes,
    y_point: Point,
    y33: bytes,
    msg: bytes,
    sig: AdaptorSignature,
    s_inv: int,
) -> bool:
    """``_verify_with_inverse`` with two of its three combinations as one
    multiplication each (``VerifyScratch.mul_add_g``): A_G = c*G - b*R_a and the
    implied R_a = u1*G + u2*X. The same equations, the same full-point checks."""
    minus_b = CURVE_ORDER - sig.proof_b
    a_g = scratch.mul_add_g(sig.r_a, minus_b, sig.proof_c)
    a_y = scratch.lincomb(
        y_point, scalar_to_bytes(sig.proof_c), sig.r_point, scalar_to_bytes(minus_b)
    )
    if a_g is None or a_y is None:
        return False
    if _dleq_challenge(sig.r_a, y33, sig.r_point, a_g, a_y) != sig.proof_b:
        return False
    u1 = s_inv * int.from_bytes(msg, "big") % CURVE_ORDER
    u2 = s_inv * sig.r % CURVE_ORDER
    if u2 == 0:
        return False
    return scratch.mul_add_g(x33, u2, u1) == sig.r_a


def verify(
    public_key: bytes | Point,
    encryption_key: bytes | Point,
    message_hash: bytes,
    signature: bytes | AdaptorSignature,
) -> bool:
    """``ecdsa_adaptor_verify(X, Y, message_hash, a)``.

    Malformed inputs (lengths, points off the curve, scalars out of range)
    raise a typed error; a well-formed signature that does not verify
    returns False.
    """
    return verify_many(public_key, [(encryption_key, message_hash, signature)])[0]


def verify_many(
    public_key: bytes | Point,
    items: Sequence[tuple[bytes | Point, bytes, bytes | AdaptorSignature]],
    *,
    executor: Executor | None = None,
    chunks: int = 0,
) -> list[bool]:
    """``verify`` over many ``(encryption_key, message_hash, signature)`` triples."""
    x_point = _as_point(public_key, "public key")
    if executor is not None and len(items) > 1:
        encoded = [(_point_bytes(p), m, _sig_bytes(s)) for p, m, s in items]
        return _run_chunked(executor, _verify_chunk, encoded, chunks, x_point.format())
    parsed = []
    for point, msg, sig in items:
        _check_digest(msg)
        y_point = _as_point(point, "encryption key")
        parsed.append((y_point, y_point.format(), msg, _as_signature(sig)))
    s_inverses = inverse_many([p[3].s_a for p in parsed])
    x33 = x_point.format()
    scratch = _verify_scratch()
    return [
        _verify_fast(scratch, x33, y_point, y33, msg, sig, s_inv)
        if _fast_path(x33, sig)
        else _verify_with_inverse(x_point, y_point, y33, msg, sig, s_inv)
        for (y_point, y33, msg, sig), s_inv in zip(parsed, s_inverses, strict=True)
    ]


def _sig_bytes(sig: bytes | AdaptorSignature) -> bytes:
    return sig.to_bytes() if isinstance(sig, AdaptorSignature) else sig


def _verify_chunk(args: tuple[Sequence[tuple[bytes, bytes, bytes]], bytes]) -> list[bool]:
    items, public_key = args
    return verify_many(public_key, [(_worker_point(p), m, sig) for p, m, sig in items])


def _run_chunked[T, C, R](
    executor: Executor,
    fn: Callable[[tuple[Sequence[T], C]], list[R]],
    items: Sequence[T],
    chunks: int,
    common: C,
) -> list[R]:
    n = chunks if chunks > 0 else max(2, min(len(items), 8))
    size = -(-len(items) // n)
    parts = [(items[i : i + size], common) for i in range(0, len(items), size)]
    out: list[R] = []
    for result in executor.map(fn, parts):
        out.extend(result)
    return out


def decrypt(signature: bytes | AdaptorSignature, decryption_key: bytes) -> bytes:
    """``ecdsa_adaptor_decrypt(a, y)``: the 64-byte compact ECDSA signature ``r || s``.

    ECDSA-adaptor.md: "Negate ``s`` if it is high as specified in [BIP62]".
    """
    sig = _as_signature(signature)
    y = scalar_from_bytes(decryption_key, "decryption key")
    s = sig.s_a * pow(y, -1, CURVE_ORDER) % CURVE_ORDER
    if s > _HALF_ORDER:
        s = CURVE_ORDER - s
    return sig.r.to_bytes(32, "big") + s.to_bytes(32, "big")


def recover(
    encryption_key: bytes | Point,
    signature: bytes | AdaptorSignature,
    ecdsa_signature: bytes,
) -> bytes:
    """``ecdsa_adaptor_recover(Y, a, sig)``: the decryption key y with y*G = Y.

    ``ecdsa_signature`` is the 64-byte compact ``r || s``. Raises
    ``AdaptorRecoveryError`` when the signature does not come from ``a``.
    """
    sig = _as_signature(signature)
    y_point = _as_point(encryption_key, "encryption key")
    if len(ecdsa_signature) != 64:
        raise InvalidInput("ECDSA signature: expected 64 compact bytes", field="ecdsa_signature")
    r = int.from_bytes(ecdsa_signature[:32], "big")
    s = scalar_from_bytes(ecdsa_signature[32:], "ECDSA signature s")
    if r != sig.r:
        raise AdaptorRecoveryError("the R value of the signature does not match")
    y = pow(s, -1, CURVE_ORDER) * sig.s_a % CURVE_ORDER
    implied = base_mult(y).format()
    expected = y_point.format()
    if implied == expected:
        return scalar_to_bytes(y)
    if implied[1:] == expected[1:]:  # Y_implied == -Y
        return scalar_to_bytes(CURVE_ORDER - y)
    raise AdaptorRecoveryError("the signature does not decrypt to this encryption key")
