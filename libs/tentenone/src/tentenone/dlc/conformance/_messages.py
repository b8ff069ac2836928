"""Conformance handler for the 14 offer/accept/sign runs of ``test_vectors/``.

Three cases per file, one per message. Each passes only when the message
parses from its hex and serializes back byte for byte, equals the message
built from the file's JSON, and passes the full validation a receiving node
runs (:mod:`tentenone.dlc.validation`):

- offer: contract valid, announcement signatures, funding inputs and fees;
- accept: funding transaction, every CET and the refund rebuilt from the
  offer and the accept, every adaptor signature verified against its CET and
  the adaptor point recomputed from the oracle announcements, the refund
  signature verified;
- sign: the contract id recomputed from the funding transaction, every
  adaptor signature, the refund signature and the funding witnesses verified.

A signature verifying over a transaction we rebuilt proves the transaction
is byte for byte the one the vector's author signed (the sighash commits to
all of it). Disjoint contracts are checked with rust-dlc's CET layout
(:class:`~tentenone.dlc.signing.CetLayout`, ADR 0034), which is how the
vectors were made.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tentenone.dlc.conformance._result import CaseResult
from tentenone.dlc.conformance._vector_json import (
    accept_from_json,
    offer_from_json,
    sign_from_json,
)
from tentenone.dlc.messages import AcceptDlc, DlcMessage, OfferDlc, SignDlc, parse_message
from tentenone.dlc.signing import CetLayout
from tentenone.dlc.validation import (
    CheckedAccept,
    ValidationPolicy,
    validate_accept,
    validate_offer,
    validate_sign,
)
from tentenone.errors import TentenoneError

__all__ = ["run_test_vectors"]


class _CaseFailed(Exception):
    pass


def _round_trip(
    vector: dict[str, Any], from_json: Callable[[dict[str, Any]], DlcMessage]
) -> DlcMessage:
    raw = bytes.fromhex(vector["serialized"])
    message = parse_message(raw)
    if message.serialize() != raw:
        raise _CaseFailed("re-serialized bytes differ from the vector")
    if from_json(vector["message"]) != message:
        raise _CaseFailed("message built from the JSON differs from the parsed hex")
    return message


class _Run:
    """The state carried from one message of a run to the next."""

    def __init__(self) -> None:
        self.policy: ValidationPolicy | None = None
        self.offer: OfferDlc | None = None
        self.accepted: CheckedAccept | None = None

    def check(self, message: DlcMessage) -> None:
        if isinstance(message, OfferDlc):
            self.policy = ValidationPolicy(
                chain_hashes=frozenset({message.chain_hash}), layout=CetLayout.RUST_DLC
            )
            validate_offer(message, self.policy)
            self.offer = message
        elif isinstance(message, AcceptDlc):
            if self.offer is None or self.policy is None:
                raise _CaseFailed("no valid offer to check the accept against")
            self.accepted = validate_accept(self.offer, message, self.policy)
        elif isinstance(message, SignDlc):
            if self.accepted is None or self.policy is None:
                raise _CaseFailed("no valid accept to check the sign against")
            validate_sign(self.accepted, message, self.policy)


def run_test_vectors(path: Path) -> list[CaseResult]:
    data = json.loads(path.read_text())
    run = _Run()
    results: list[CaseResult] = []
    for key, from_json in (
        ("offer_message", offer_from_json),
        ("accept_message", accept_from_json),
        ("sign_message", sign_from_json),
    ):
        name = f"{path.stem}/{key}"
        try:
            run.check(_round_trip(data[key], from_json))
        except (_CaseFailed, TentenoneError, KeyError, ValueError) as exc:
            results.append(CaseResult(name, False, f"{type(exc).__name__}: {exc}"))
        else:
            results.append(CaseResult(name, True))
    return results
