"""The oracle's signing: announcements with derived nonces, attestations with the same nonces.

Pure: no storage, no clock. The maths is ``tentenone.oracle`` (BIP-340 with
the dlcspecs tags, outcome hashing as a per-oracle setting) and the TLVs are
``tentenone.dlc.oracle_messages``. This module decides which nonce signs what:
nonce ``i`` of event ``e`` is ``NonceDeriver.nonce(e, i)`` (ADR 0070), and an
attestation refuses to sign with anything but the nonces its announcement
committed to.

Whoever calls ``attest`` must keep its result inside the process until the
attestation is committed (``attestations.py``): the nonces do not depend on
the outcome, so two different attestations of one event reveal the key.
"""

from __future__ import annotations

from collections.abc import Sequence

from tentenone.dlc.oracle_messages import (
    DigitDecompositionEventDescriptor,
    EnumEventDescriptor,
    EventDescriptor,
    OracleAnnouncement,
    OracleAttestation,
    OracleEvent,
)
from tentenone.errors import InvalidInput
from tentenone.oracle.announcement import sign_announcement, verify_announcement
from tentenone.oracle.attestation import attest, verify_attestation
from tentenone.oracle.hashing import OracleHashing, digit_outcomes
from tentenone.oracle.schnorr import sign_with_nonce
from tentenone_oracle.keys import OracleKey
from tentenone_oracle.nonces import NonceDeriver

__all__ = ["NonceMismatch", "OracleSigner", "outcomes_for"]


class NonceMismatch(InvalidInput):
    """An event's announced nonces are not the ones this key derives for it."""

    code = "oracle_nonce_mismatch"


def outcomes_for(descriptor: EventDescriptor, outcome: str | int) -> list[str]:
    """The strings signed for ``outcome``: its digits (numeric) or itself (enumerated)."""
    if isinstance(descriptor, EnumEventDescriptor):
        if outcome not in descriptor.outcomes:
            raise InvalidInput(
                f"outcome {str(outcome)[:80]!r} is not one of the event's outcomes",
                outcomes=list(descriptor.outcomes),
            )
        return [str(outcome)]
    if not isinstance(outcome, int) or isinstance(outcome, bool):
        raise InvalidInput(f"a numeric event's outcome is an integer, got {outcome!r:.40}")
    return digit_outcomes(outcome, descriptor.base, descriptor.nb_digits)


class OracleSigner:
    """Signs for one oracle key with one outcome-hashing convention."""

    def __init__(self, key: OracleKey, hashing: OracleHashing) -> None:
        self._key = key
        self._nonces = NonceDeriver(key.secret)
        self.hashing = hashing

    @property
    def public_key(self) -> bytes:
        return self._key.public_key

    def announce(
        self, event_id: str, maturity_epoch: int, descriptor: EventDescriptor
    ) -> OracleAnnouncement:
        """A signed announcement of ``event_id`` with its derived nonces."""
        count = _nonce_count(descriptor)
        nonces = tuple(n.public for n in self._nonces.nonces(event_id, count))
        event = OracleEvent(nonces, maturity_epoch, descriptor, event_id)
        event.check()
        signature = sign_announcement(self._key.secret, event.value_bytes(), self.hashing)
        return OracleAnnouncement(signature, self.public_key, event)

    def attest(self, event: OracleEvent, outcomes: Sequence[str]) -> OracleAttestation:
        """Sign ``outcomes`` (one per nonce) with the nonces ``event`` announced."""
        if len(outcomes) != len(event.oracle_nonces):
            raise InvalidInput(
                f"{len(outcomes)} outcomes for {len(event.oracle_nonces)} announced nonces"
            )
        derived = self._nonces.nonces(event.event_id, len(event.oracle_nonces))
        if tuple(n.public for n in derived) != event.oracle_nonces:
            raise NonceMismatch(
                f"event {event.event_id!r} was not announced with this key's nonces"
            )
        signatures = attest(
            self._key.secret, [n.secret for n in derived], list(outcomes), self.hashing
        )
        return OracleAttestation(
            event.event_id, self.public_key, tuple(signatures), tuple(outcomes)
        )

    def sign_digest(self, nonce_secret: bytes, msg32: bytes) -> bytes:
        """One BIP-340 signature with a given nonce: what ``attest`` does per digit.

        Public for the dlcspecs Schnorr vectors, which give the message hash.
        """
        return sign_with_nonce(self._key.secret, nonce_secret, msg32)

    def verify_announcement(self, announcement: OracleAnnouncement) -> bool:
        return announcement.oracle_public_key == self.public_key and verify_announcement(
            self.public_key,
            announcement.announcement_signature,
            announcement.oracle_event.value_bytes(),
            self.hashing,
        )

    def verify_attestation(self, event: OracleEvent, attestation: OracleAttestation) -> bool:
        return attestation.oracle_public_key == self.public_key and verify_attestation(
            self.public_key,
            event.oracle_nonces,
            attestation.signatures,
            attestation.outcomes,
            self.hashing,
        )


def _nonce_count(descriptor: EventDescriptor) -> int:
    if isinstance(descriptor, EnumEventDescriptor):
        return 1
    if isinstance(descriptor, DigitDecompositionEventDescriptor):
        if descriptor.is_signed:
            # The sign nonce would sign "+"/"-"; BTC/USD is never negative.
            raise InvalidInput("signed numeric events are not supported by this oracle")
        return descriptor.nb_nonces
    raise InvalidInput(f"unknown event descriptor {type(descriptor).__name__}")
