"""Typed errors of the DLC package.

``DecodeError``: bytes that are not a well-formed message of this spec version.
``EncodeError``: a value that does not fit its wire field.
``ContractError``: a contract we were asked to build locally is not valid.
``ValidationError``: a counterparty's message breaks a rule of the spec; each rule
has its own subclass (in :mod:`tentenone.dlc.validation`) whose ``code`` names it.
"""

from __future__ import annotations

from tentenone.errors import InvalidInput, ProtocolError

__all__ = ["ContractError", "DecodeError", "EncodeError", "ValidationError"]


class DecodeError(ProtocolError):
    """The bytes are not a well-formed DLC message, TLV or field."""

    code = "dlc_decode_error"


class EncodeError(InvalidInput):
    """A value does not fit the field it is being written to (e.g. a u16 above 65535)."""

    code = "dlc_encode_error"


class ContractError(InvalidInput):
    """A contract (descriptor, payout curve, oracle set) is not valid."""

    code = "dlc_invalid_contract"


class ValidationError(ProtocolError):
    """A counterparty's message breaks a rule of the spec (see the subclass code)."""

    code = "dlc_validation_error"
