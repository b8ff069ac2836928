"""Typed errors of the trade protocol. Each says what was wrong; each has a stable code."""

from __future__ import annotations

from tentenone.errors import ConflictError, ProtocolError

__all__ = [
    "InvalidCloseSignature",
    "InvalidRenewal",
    "InvalidRenewalSignature",
    "OfferTermsMismatch",
    "QuoteExpired",
    "UnexpectedMessage",
]


class OfferTermsMismatch(ProtocolError):
    """An offer does not implement the trade it claims to (price, size, oracle, fee ...)."""

    code = "dlc_offer_terms_mismatch"


class UnexpectedMessage(ConflictError):
    """A message that the contract's state does not expect (replayed or out of order)."""

    code = "dlc_unexpected_message"


class QuoteExpired(ConflictError):
    """A close or renewal answered after its quote expired."""

    code = "dlc_quote_expired"


class InvalidCloseSignature(ProtocolError):
    """A signature of the closing transaction does not verify."""

    code = "dlc_invalid_close_signature"


class InvalidRenewal(ProtocolError):
    """A renewal message does not describe a valid renewal of the contract."""

    code = "dlc_invalid_renewal"


class InvalidRenewalSignature(ProtocolError):
    """A signature of the renewal transaction (or of its fee inputs) does not verify."""

    code = "dlc_invalid_renewal_signature"
