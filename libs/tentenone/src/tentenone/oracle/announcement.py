"""Signing and verifying an oracle announcement (Oracle.md "Oracle announcements").

Public names (stable): ``sign_announcement``, ``verify_announcement``.

The bytes signed are the ``oracle_event`` serialization (the TLV value,
without type and length); the TLV codec lives in ``tentenone.dlc``.
"""

from __future__ import annotations

from tentenone.oracle import schnorr
from tentenone.oracle.hashing import OracleHashing, event_message

__all__ = ["sign_announcement", "verify_announcement"]


def sign_announcement(
    secret_key: bytes,
    oracle_event: bytes,
    hashing: OracleHashing,
    aux: bytes | None = None,
) -> bytes:
    """The 64-byte BIP-340 announcement signature over ``oracle_event``."""
    return schnorr.sign(secret_key, event_message(oracle_event, hashing), aux)


def verify_announcement(
    public_key: bytes, signature: bytes, oracle_event: bytes, hashing: OracleHashing
) -> bool:
    """Oracle-Validation.md: an announcement whose signature is not valid against
    the ``oracle_public_key`` MUST make the receiver reject the ``offer_dlc``."""
    return schnorr.verify(public_key, event_message(oracle_event, hashing), signature)
