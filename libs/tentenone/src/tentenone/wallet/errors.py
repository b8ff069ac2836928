"""Errors of the wallet: every one a ``TentenoneError`` with a stable code."""

from __future__ import annotations

from tentenone.errors import ConflictError, InvalidInput, NotFound

__all__ = [
    "CannotBumpFee",
    "InsufficientFunds",
    "InvalidAddress",
    "InvalidMnemonic",
    "InvalidWalletInput",
    "SigningError",
    "UnknownTransaction",
    "WrongNetwork",
]


class InvalidWalletInput(InvalidInput):
    code = "wallet_invalid_input"


class InvalidMnemonic(InvalidWalletInput):
    """Words not in the BIP-39 list, a wrong count, or a failed checksum."""

    code = "wallet_invalid_mnemonic"


class InvalidAddress(InvalidWalletInput):
    code = "wallet_invalid_address"


class WrongNetwork(InvalidAddress):
    """A well-formed address of another network (e.g. mainnet ``bc1`` on regtest)."""

    code = "wallet_wrong_network"


class SigningError(InvalidWalletInput):
    """A PSBT input we were asked to sign is not ours or lacks what signing needs."""

    code = "wallet_signing_error"


class InsufficientFunds(ConflictError):
    code = "wallet_insufficient_funds"


class CannotBumpFee(ConflictError):
    code = "wallet_cannot_bump_fee"


class UnknownTransaction(NotFound):
    code = "wallet_unknown_transaction"
