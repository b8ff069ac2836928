"""How an oracle turns an outcome or an event into the 32-byte message it signs.

Public names (stable): ``OracleHashing``, ``normalize_outcome``,
``outcome_message``, ``event_message``, ``digit_outcomes``.

Oracle.md asks for ``Sign(sk, message, tag)`` = BIP-340 over
``tag_hash("DLC/oracle/" || tag)(message)`` with the tags ``attestation/v0``
and ``announcement/v0``. rust-dlc, and so the dlcspecs test vectors, sign the
plain ``SHA256(message)`` instead. Which one an oracle uses is a property of
the oracle, so it is a setting carried with the oracle's key (docs/adr/0023).
"""

from __future__ import annotations

import hashlib
import unicodedata
from enum import StrEnum

from tentenone.bitcoin.hashes import tagged_hash
from tentenone.errors import InvalidInput

__all__ = [
    "ANNOUNCEMENT_TAG",
    "ATTESTATION_TAG",
    "DEFAULT_HASHING",
    "OracleHashing",
    "digit_outcomes",
    "event_message",
    "normalize_outcome",
    "outcome_message",
]

ATTESTATION_TAG = "DLC/oracle/attestation/v0"
ANNOUNCEMENT_TAG = "DLC/oracle/announcement/v0"


class OracleHashing(StrEnum):
    #: ``SHA256(message)``: rust-dlc, p2pderivatives' oracle, the dlcspecs vectors.
    SHA256 = "sha256"
    #: ``tag_hash("DLC/oracle/<tag>")(message)`` as Oracle.md writes it.
    TAGGED = "tagged"


#: The one default of the system (ADR 0130): the oracle service signs this way unless
#: configured otherwise, and the coordinator and the trader verify this way unless told
#: another oracle's setting. SHA256, as rust-dlc, p2pderivatives' oracle and the vectors.
DEFAULT_HASHING = OracleHashing.SHA256


def normalize_outcome(outcome: str) -> bytes:
    """Oracle.md: "encoded as a UTF-8 string with NFC normalization"."""
    if not isinstance(outcome, str):
        raise InvalidInput("an outcome is a string", field="outcome")
    try:
        return unicodedata.normalize("NFC", outcome).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("outcome is not valid Unicode (lone surrogate)") from None


def outcome_message(outcome: str, hashing: OracleHashing) -> bytes:
    """The 32-byte message the oracle signs to attest ``outcome``."""
    data = normalize_outcome(outcome)
    if hashing is OracleHashing.SHA256:
        return hashlib.sha256(data).digest()
    return tagged_hash(ATTESTATION_TAG, data)


def event_message(oracle_event: bytes, hashing: OracleHashing) -> bytes:
    """The 32-byte message of an announcement: over the ``oracle_event`` TLV value.

    ``oracle_event`` is the serialized event without its TLV type and length,
    which is what the vectors' announcement signatures cover.
    """
    if hashing is OracleHashing.SHA256:
        return hashlib.sha256(oracle_event).digest()
    return tagged_hash(ANNOUNCEMENT_TAG, oracle_event)


def digit_outcomes(value: int, base: int, nb_digits: int) -> list[str]:
    """The digit strings an oracle signs for ``value``, most significant first.

    Oracle.md: digits of bases above 10 are written in base 10; leading zeros
    are signed; a value too large for ``nb_digits`` is signed as the maximum.
    """
    if base < 2 or nb_digits < 1:
        raise InvalidInput(f"base {base} / {nb_digits} digits: need base >= 2, >= 1 digit")
    if value < 0:
        raise InvalidInput(f"value {value} is negative (unsigned event)")
    value = min(value, base**nb_digits - 1)
    digits = []
    for _ in range(nb_digits):
        value, digit = divmod(value, base)
        digits.append(str(digit))
    return digits[::-1]
