"""Errors of the trader's side: every one a ``TentenoneError`` with a stable code.

Messages say what was wrong and what to do; none ever contains a word of
the mnemonic, a passphrase or a key.
"""

from __future__ import annotations

from tentenone.errors import ConflictError, InvalidInput, NotFound, ProtocolError, Unavailable

__all__ = [
    "BackupCorrupt",
    "BackupStale",
    "GatewayUnavailable",
    "KeyStoreCorrupt",
    "KeyStoreExists",
    "KeyStoreMissing",
    "OfferRefused",
    "TraderConflict",
    "TraderInputError",
    "UnknownOrder",
    "UnknownPosition",
    "WrongPassphrase",
]


class TraderInputError(InvalidInput):
    """A command of the trader (CLI, app) was malformed or out of range; nothing changed."""

    code = "trader_invalid_input"


class WrongPassphrase(InvalidInput):
    """The passphrase does not open the key store (or its content was altered)."""

    code = "keystore_wrong_passphrase"


class KeyStoreCorrupt(InvalidInput):
    """The key store file is damaged: not the format, a checksum mismatch, bad parameters."""

    code = "keystore_corrupt"


class KeyStoreExists(ConflictError):
    """A key store is already there: creating or restoring would overwrite a seed."""

    code = "keystore_exists"


class KeyStoreMissing(NotFound):
    """No key store yet: create a wallet or restore one from its words first."""

    code = "keystore_missing"


class BackupCorrupt(InvalidInput):
    """A backup that does not decrypt under this seed, or is not a backup at all."""

    code = "backup_corrupt"


class BackupStale(ConflictError):
    """A backup older than the coordinator's state: resuming from it could broadcast an
    outdated transaction, so it is refused."""

    code = "backup_stale"


class OfferRefused(ProtocolError):
    """An offer (or renewal, or close) that does not match what the trader agreed to."""

    code = "trader_offer_refused"


class UnknownOrder(NotFound):
    code = "trader_unknown_order"


class UnknownPosition(NotFound):
    code = "trader_unknown_position"


class TraderConflict(ConflictError):
    """The command does not fit the order's or position's current state."""

    code = "trader_conflict"


class GatewayUnavailable(Unavailable):
    """The coordinator's gateway did not answer (network, timeout, 5xx)."""

    code = "gateway_unavailable"
