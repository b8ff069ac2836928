"""Attestations and attestation points (the adaptor points of CETs).

Public names (stable):

- ``attest(secret_key, nonce_secrets, outcomes, hashing)``: one BIP-340
  signature per outcome (per digit), each with its announced nonce
- ``verify_attestation(public_key, nonces, signatures, outcomes, hashing)``
- ``attestation_point(public_key, nonces, outcomes, hashing)``: the sum over
  the signed outcomes of ``R_i + H(R_i || P || m_i) * P`` (= s*G of the sum of
  the attestation's s values); ``outcomes`` may be a prefix of the digits
- ``attestation_secret(signatures)``: the sum of the s values, the adaptor
  decryption key for the attestation point of the same outcomes
- ``DigitPointTable``: per-oracle cache of digit points and of prefix sums,
  for computing thousands of adaptor points fast (``prefix_point``,
  ``prefix_points``); ``adaptor_point`` / ``adaptor_points`` add the points
  of several oracles (multi-oracle CETs)
"""

from __future__ import annotations

from collections.abc import Sequence

from tentenone.bitcoin.curve import (
    CURVE_ORDER,
    Point,
    point_from_xonly,
    point_sum,
    scalar_from_bytes,
    scalar_to_bytes,
    xonly,
)
from tentenone.bitcoin.errors import InvalidSignatureEncoding
from tentenone.errors import InvalidInput
from tentenone.oracle import schnorr
from tentenone.oracle.hashing import OracleHashing, outcome_message

__all__ = [
    "DigitPointTable",
    "adaptor_point",
    "adaptor_points",
    "attest",
    "attestation_point",
    "attestation_secret",
    "verify_attestation",
]


def _check_counts(n_nonces: int, n_outcomes: int) -> None:
    if n_outcomes == 0:
        raise InvalidInput("an attestation covers at least one outcome", field="outcomes")
    if n_outcomes > n_nonces:
        raise InvalidInput(
            f"{n_outcomes} outcomes but only {n_nonces} nonces were announced", field="outcomes"
        )


def attest(
    secret_key: bytes,
    nonce_secrets: Sequence[bytes],
    outcomes: Sequence[str],
    hashing: OracleHashing,
) -> list[bytes]:
    """The oracle's signatures of ``outcomes``, outcome i with nonce i."""
    _check_counts(len(nonce_secrets), len(outcomes))
    return [
        schnorr.sign_with_nonce(secret_key, k, outcome_message(outcome, hashing))
        for k, outcome in zip(nonce_secrets, outcomes, strict=False)
    ]


def verify_attestation(
    public_key: bytes,
    nonces: Sequence[bytes],
    signatures: Sequence[bytes],
    outcomes: Sequence[str],
    hashing: OracleHashing,
) -> bool:
    """Oracle-Validation.md: signatures must be "valid against the nonces committed
    in the accepted announcement": each signature uses its announced nonce and verifies."""
    if len(signatures) != len(outcomes):
        raise InvalidInput(f"{len(signatures)} signatures for {len(outcomes)} outcomes")
    _check_counts(len(nonces), len(outcomes))
    for nonce, sig, outcome in zip(nonces, signatures, outcomes, strict=False):
        if len(sig) != 64:
            raise InvalidSignatureEncoding(
                f"attestation signature: expected 64 bytes, got {len(sig)}"
            )
        if sig[:32] != nonce:
            return False
        if not schnorr.verify(public_key, outcome_message(outcome, hashing), sig):
            return False
    return True


def attestation_point(
    public_key: bytes,
    nonces: Sequence[bytes],
    outcomes: Sequence[str],
    hashing: OracleHashing,
) -> Point:
    """``sum_i R_i + H(R_i || P || m_i) * P`` over the given outcomes."""
    _check_counts(len(nonces), len(outcomes))
    return point_sum(
        [
            schnorr.signature_point(public_key, nonce, outcome_message(outcome, hashing))
            for nonce, outcome in zip(nonces, outcomes, strict=False)
        ]
    )


def attestation_secret(signatures: Sequence[bytes]) -> bytes:
    """The sum of the s values: the discrete log of the matching attestation point."""
    if not signatures:
        raise InvalidInput("no signatures to add", field="signatures")
    total = 0
    for i, sig in enumerate(signatures):
        if len(sig) != 64:
            raise InvalidSignatureEncoding(f"signature {i}: expected 64 bytes, got {len(sig)}")
        total += scalar_from_bytes(sig[32:], f"signature {i} s", allow_zero=True)
    if total % CURVE_ORDER == 0:
        raise InvalidInput("the signatures' s values add up to zero", field="signatures")
    return scalar_to_bytes(total)


class DigitPointTable:
    """Attestation points of one oracle's numeric event, cached.

    ``digit_point(i, d)`` is the signature point of digit ``d`` at position
    ``i`` (computed once); ``prefix_point(digits)`` the sum over a digit
    prefix, computed from the cached point of the prefix one digit shorter,
    so a contract's thousands of CETs cost about one point addition each.
    Not thread-safe: use one table per thread or process.
    """

    def __init__(
        self,
        public_key: bytes,
        nonces: Sequence[bytes],
        hashing: OracleHashing,
        base: int = 2,
    ) -> None:
        if base < 2:
            raise InvalidInput(f"base {base} is below 2", field="base")
        if not nonces:
            raise InvalidInput("a numeric event needs at least one nonce", field="nonces")
        self.public_key = point_from_xonly(public_key, "oracle public key")
        self.nonces = [point_from_xonly(n, f"oracle nonce {i}") for i, n in enumerate(nonces)]
        self.hashing = hashing
        self.base = base
        self._messages = [outcome_message(str(d), hashing) for d in range(base)]
        self._digits: dict[tuple[int, int], Point] = {}
        self._prefixes: dict[tuple[int, ...], Point] = {}

    @property
    def nb_digits(self) -> int:
        return len(self.nonces)

    def digit_point(self, position: int, digit: int) -> Point:
        key = (position, digit)
        point = self._digits.get(key)
        if point is None:
            if not 0 <= position < len(self.nonces):
                raise InvalidInput(f"digit position {position} outside 0..{len(self.nonces) - 1}")
            if not 0 <= digit < self.base:
                raise InvalidInput(f"digit {digit} outside 0..{self.base - 1}")
            point = schnorr.signature_point(
                self.public_key, self.nonces[position], self._messages[digit]
            )
            self._digits[key] = point
        return point

    def prefix_point(self, digits: Sequence[int]) -> Point:
        """The attestation point of every outcome whose leading digits are ``digits``."""
        key = tuple(digits)
        point = self._prefixes.get(key)
        if point is not None:
            return point
        if not key:
            raise InvalidInput("an empty digit prefix has no attestation point")
        if len(key) > len(self.nonces):
            raise InvalidInput(f"{len(key)} digits but the event has {len(self.nonces)}")
        # Find the longest cached shorter prefix, then add digit points from there.
        start = len(key) - 1
        while start > 0 and key[:start] not in self._prefixes:
            start -= 1
        if start:
            point = self._prefixes[key[:start]]
        else:
            point = self.digit_point(0, key[0])
            self._prefixes[key[:1]] = point
            start = 1
        for i in range(start, len(key)):
            point = point_sum([point, self.digit_point(i, key[i])])
            self._prefixes[key[: i + 1]] = point
        self._prefixes[key] = point
        return point

    def prefix_points(self, prefixes: Sequence[Sequence[int]]) -> list[Point]:
        return [self.prefix_point(p) for p in prefixes]

    def nonce_xonly(self, position: int) -> bytes:
        return xonly(self.nonces[position])


def adaptor_point(parts: Sequence[tuple[DigitPointTable, Sequence[int]]]) -> Point:
    """A multi-oracle CET's adaptor point: the sum of each oracle's prefix point."""
    if not parts:
        raise InvalidInput("an adaptor point needs at least one oracle", field="parts")
    return point_sum([table.prefix_point(digits) for table, digits in parts])


def adaptor_points(
    cets: Sequence[Sequence[tuple[DigitPointTable, Sequence[int]]]],
) -> list[Point]:
    """``adaptor_point`` for every CET of a contract (tables cache across CETs)."""
    return [adaptor_point(parts) for parts in cets]
