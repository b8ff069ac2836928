"""secp256k1 points and scalars, on coincurve (libsecp256k1).

Public names (stable):

- ``CURVE_ORDER`` (n), ``FIELD_PRIME`` (p), ``Point`` (= ``coincurve.PublicKey``)
- ``scalar_from_bytes``, ``scalar_to_bytes``: 32-byte big-endian scalars
- ``point_from_bytes`` (33-byte compressed SEC1), ``point_from_xonly`` (BIP-340 lift_x),
  ``point_to_bytes``, ``xonly``, ``has_even_y``
- ``base_mult`` (k*G), ``point_mult`` (k*P), ``point_sum``, ``point_neg``, ``point_sub``
- ``inverse``, ``inverse_many`` (Montgomery's batch inversion modulo n)
- ``MultScratch``: constant-time k*G and k*P straight to 33-byte encodings (hot loops)
- ``VerifyScratch``: variable-time a*P + g*G and a*P + b*Q of public points (verifiers)

Every parser takes the field's name (``what``) so a typed error can say what
was wrong. Scalars are plain ``int`` in ``1..n-1`` once parsed.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from coincurve import PublicKey

from tentenone.bitcoin import _secp
from tentenone.bitcoin.errors import InvalidPoint, InvalidScalar

__all__ = [
    "CURVE_ORDER",
    "FIELD_PRIME",
    "MultScratch",
    "Point",
    "VerifyScratch",
    "base_mult",
    "has_even_y",
    "inverse",
    "inverse_many",
    "point_from_bytes",
    "point_from_xonly",
    "point_mult",
    "point_neg",
    "point_sub",
    "point_sum",
    "point_to_bytes",
    "scalar_from_bytes",
    "scalar_to_bytes",
    "xonly",
]

CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
FIELD_PRIME = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F

Point = PublicKey
MultScratch = _secp.Scratch
VerifyScratch = _secp.VerifyScratch


def scalar_from_bytes(data: bytes, what: str, *, allow_zero: bool = False) -> int:
    """Parse a 32-byte big-endian scalar; it must be below n (and non-zero unless allowed)."""
    if len(data) != 32:
        raise InvalidScalar(f"{what}: expected 32 bytes, got {len(data)}", field=what)
    value = int.from_bytes(data, "big")
    if value >= CURVE_ORDER:
        raise InvalidScalar(f"{what}: scalar is not below the curve order", field=what)
    if value == 0 and not allow_zero:
        raise InvalidScalar(f"{what}: scalar is zero", field=what)
    return value


def scalar_to_bytes(value: int) -> bytes:
    return (value % CURVE_ORDER).to_bytes(32, "big")


def point_from_bytes(data: bytes, what: str) -> Point:
    """Parse a 33-byte compressed SEC1 point (prefix 02 or 03, x on the curve)."""
    if len(data) != 33:
        raise InvalidPoint(f"{what}: expected 33 bytes, got {len(data)}", field=what)
    if data[0] not in (2, 3):
        raise InvalidPoint(f"{what}: prefix {data[0]:#04x} is not 0x02 or 0x03", field=what)
    try:
        return PublicKey(bytes(data))
    except ValueError:
        raise InvalidPoint(
            f"{what}: x is not the coordinate of a curve point", field=what
        ) from None


def point_from_xonly(data: bytes, what: str) -> Point:
    """BIP-340 ``lift_x``: the point with this x coordinate and an even y."""
    if len(data) != 32:
        raise InvalidPoint(f"{what}: expected a 32-byte x-only key, got {len(data)}", field=what)
    return point_from_bytes(b"\x02" + data, what)


def point_to_bytes(point: Point) -> bytes:
    return point.format(compressed=True)


def xonly(point: Point) -> bytes:
    return point.format(compressed=True)[1:]


def has_even_y(point: Point) -> bool:
    return point.format(compressed=True)[0] == 2


def base_mult(k: int) -> Point:
    """k*G for a non-zero scalar."""
    k %= CURVE_ORDER
    if k == 0:
        raise InvalidScalar("cannot multiply the generator by zero", field="scalar")
    return PublicKey.from_valid_secret(k.to_bytes(32, "big"))


def point_mult(point: Point, k: int) -> Point:
    """k*P for a non-zero public scalar (variable time: never a secret, e.g. a nonce;
    ``MultScratch.point_mult`` is the constant-time one)."""
    k %= CURVE_ORDER
    if k == 0:
        raise InvalidScalar("cannot multiply a point by zero", field="scalar")
    return point.multiply(k.to_bytes(32, "big"))


def point_sum(points: Sequence[Point]) -> Point:
    """P1 + P2 + ...; the point at infinity is not a point here and raises."""
    if not points:
        raise InvalidPoint("cannot add an empty list of points", field="points")
    if len(points) == 1:
        return points[0]
    try:
        return PublicKey.combine_keys(list(points))
    except ValueError:
        raise InvalidPoint("the sum of the points is the point at infinity") from None


def point_neg(point: Point) -> Point:
    return _secp.negate(point)


def point_sub(a: Point, b: Point) -> Point:
    """a - b (raises when a == b)."""
    return point_sum([a, _secp.negate(b)])


def inverse(value: int) -> int:
    value %= CURVE_ORDER
    if value == 0:
        raise InvalidScalar("zero has no inverse", field="scalar")
    return pow(value, -1, CURVE_ORDER)


def inverse_many(values: Sequence[int]) -> list[int]:
    """Inverses of many non-zero scalars for the price of one (Montgomery's trick).

    The one inversion (Python's, variable time) is of the product times a random
    blinding factor, so its timing says nothing about the (possibly secret) values.
    """
    if not values:
        return []
    prefix = [0] * len(values)
    acc = 1
    for i, v in enumerate(values):
        if v % CURVE_ORDER == 0:
            raise InvalidScalar("zero has no inverse", field=f"scalar[{i}]")
        prefix[i] = acc
        acc = acc * v % CURVE_ORDER
    blind = 1 + secrets.randbelow(CURVE_ORDER - 1)
    inv = pow(acc * blind % CURVE_ORDER, -1, CURVE_ORDER) * blind % CURVE_ORDER
    out = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        out[i] = inv * prefix[i] % CURVE_ORDER
        inv = inv * values[i] % CURVE_ORDER
    return out
