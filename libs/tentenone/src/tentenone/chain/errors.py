"""Errors of the chain source: every one a ``TentenoneError`` with a stable code."""

from __future__ import annotations

from tentenone.errors import ConflictError, InvalidInput, NotFound, ProtocolError, Unavailable

__all__ = [
    "BadHeader",
    "BadMerkleProof",
    "BroadcastRejected",
    "ChainUnavailable",
    "InvalidChainInput",
    "MalformedReply",
    "ReorgTooDeep",
    "ServerMisbehaved",
    "TransactionNotFound",
]


class ChainUnavailable(Unavailable):
    """No configured server answered within the time allowed."""

    code = "chain_unavailable"


class ServerMisbehaved(ProtocolError):
    """A server sent something a correct server never sends; it is dropped."""

    code = "chain_server_misbehaved"


class MalformedReply(ServerMisbehaved):
    """A reply that does not have the shape the Electrum protocol gives it."""

    code = "chain_malformed_reply"


class BadHeader(ServerMisbehaved):
    """A header without enough proof of work, with the wrong target, or not connecting."""

    code = "chain_bad_header"


class BadMerkleProof(ServerMisbehaved):
    """A merkle proof that does not lead to the merkle root of our header."""

    code = "chain_bad_merkle_proof"


class ReorgTooDeep(ServerMisbehaved):
    """A server's chain forks from ours deeper than we accept."""

    code = "chain_reorg_too_deep"


class TransactionNotFound(NotFound):
    code = "chain_tx_not_found"


class BroadcastRejected(ConflictError):
    """The server's node refused the transaction; ``message`` carries its reason."""

    code = "chain_broadcast_rejected"


class InvalidChainInput(InvalidInput):
    code = "chain_invalid_input"
