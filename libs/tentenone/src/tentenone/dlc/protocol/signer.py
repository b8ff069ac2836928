"""Signing a side's own wallet inputs of a funding or renewal transaction.

The protocol never holds wallet keys: a side passes an :class:`InputSigner`
(its wallet, or :class:`KeyInputSigner` over plain P2WPKH keys) that returns
the witness of each input it is asked to sign.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from tentenone.bitcoin.curve import base_mult, scalar_from_bytes
from tentenone.bitcoin.script import p2wpkh
from tentenone.bitcoin.tx import Transaction
from tentenone.dlc.transactions import FundingInput, sign_p2wpkh_input
from tentenone.errors import InvalidInput

__all__ = ["InputSigner", "KeyInputSigner"]


class InputSigner(Protocol):
    def sign_inputs(
        self, tx: Transaction, inputs: Sequence[tuple[int, FundingInput]]
    ) -> dict[int, tuple[bytes, ...]]:
        """The witness stack of each ``(input index, spent output)`` of ``tx``."""
        ...


class KeyInputSigner:
    """Signs P2WPKH inputs with the secret keys it was given."""

    def __init__(self, secret_keys: Sequence[bytes]) -> None:
        self._by_script: Mapping[bytes, bytes] = {
            p2wpkh(base_mult(scalar_from_bytes(k, "secret key")).format()): k for k in secret_keys
        }

    def sign_inputs(
        self, tx: Transaction, inputs: Sequence[tuple[int, FundingInput]]
    ) -> dict[int, tuple[bytes, ...]]:
        out: dict[int, tuple[bytes, ...]] = {}
        for index, spent in inputs:
            key = self._by_script.get(spent.script_pubkey)
            if key is None:
                raise InvalidInput(f"input {index} does not spend a P2WPKH script of ours")
            out[index] = sign_p2wpkh_input(tx, index, key, spent.value)
        return out
