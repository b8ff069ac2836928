"""embit, loaded without type information (it ships none) so strict typing stays clean."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["parse_tx", "tx_outputs_scripts", "txid_of"]

_transaction: Any = importlib.import_module("embit.transaction")


def parse_tx(raw: bytes) -> Any:
    return _transaction.Transaction.parse(raw)


def txid_of(raw: bytes) -> str:
    """The txid (hash of the serialization without witnesses) of a raw transaction."""
    tx = parse_tx(raw)
    return str(tx.txid().hex())


def tx_outputs_scripts(raw: bytes) -> list[bytes]:
    return [bytes(out.script_pubkey.data) for out in parse_tx(raw).vout]
