"""Typed errors of :mod:`tentenone.bitcoin`.

Every one is an :class:`~tentenone.errors.InvalidInput`: the caller handed in
bytes or values that are malformed or out of range, and nothing was changed.
The message names the field that was wrong.
"""

from __future__ import annotations

from tentenone.errors import InvalidInput

__all__ = [
    "BitcoinError",
    "InvalidAddress",
    "InvalidAmount",
    "InvalidPoint",
    "InvalidScalar",
    "InvalidScript",
    "InvalidSignatureEncoding",
    "TransactionDecodeError",
]


class BitcoinError(InvalidInput):
    """Root of the errors of this package."""

    code = "bitcoin_invalid_input"


class InvalidScalar(BitcoinError):
    """Not a 32-byte big-endian integer in 1..n-1 (or 0..n-1 where zero is allowed)."""

    code = "bitcoin_invalid_scalar"


class InvalidPoint(BitcoinError):
    """Not the encoding of a point on secp256k1 (or the point at infinity)."""

    code = "bitcoin_invalid_point"


class InvalidSignatureEncoding(BitcoinError):
    """A signature (DER, compact or BIP-340) that cannot even be parsed."""

    code = "bitcoin_invalid_signature_encoding"


class TransactionDecodeError(BitcoinError):
    """Bytes that are not exactly one serialized transaction."""

    code = "bitcoin_tx_decode_error"


class InvalidScript(BitcoinError):
    """A script that does not have the required form."""

    code = "bitcoin_invalid_script"


class InvalidAmount(BitcoinError):
    """An amount of satoshis out of range (negative, above 21M BTC, below dust...)."""

    code = "bitcoin_invalid_amount"


class InvalidAddress(BitcoinError):
    """A string that is not an address of the expected network."""

    code = "bitcoin_invalid_address"
