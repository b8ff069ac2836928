"""BIP-143 signature digests for segwit v0 inputs.

Public names (stable): ``SIGHASH_ALL``, ``segwit_v0_sighash``,
``p2wpkh_script_code``.
"""

from __future__ import annotations

import hashlib

from tentenone.bitcoin.errors import BitcoinError
from tentenone.bitcoin.hashes import hash160
from tentenone.bitcoin.tx import Transaction, encode_varint

__all__ = ["SIGHASH_ALL", "SegwitV0Sighasher", "p2wpkh_script_code", "segwit_v0_sighash"]

SIGHASH_ALL = 0x01


def _dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def p2wpkh_script_code(pubkey: bytes) -> bytes:
    """BIP-143: the scriptCode of a P2WPKH input is the P2PKH script of the key."""
    return b"\x76\xa9\x14" + hash160(pubkey) + b"\x88\xac"


def segwit_v0_sighash(
    tx: Transaction,
    input_index: int,
    script_code: bytes,
    value: int,
    sighash_type: int = SIGHASH_ALL,
) -> bytes:
    """The BIP-143 digest that an ECDSA signature of input ``input_index`` signs.

    ``script_code`` is the witness script for P2WSH (the 2-of-2 funding script
    for CETs, refund and closing transactions) or ``p2wpkh_script_code(pubkey)``;
    ``value`` is the amount of the output being spent. Only SIGHASH_ALL is used
    by the DLC transactions and only it is implemented.
    """
    if sighash_type != SIGHASH_ALL:
        raise BitcoinError(f"sighash type {sighash_type:#x} is not supported (only ALL)")
    if not 0 <= input_index < len(tx.inputs):
        raise BitcoinError(f"input index {input_index} out of range ({len(tx.inputs)} inputs)")
    txin = tx.inputs[input_index]
    hash_prevouts = _dsha(b"".join(i.outpoint.serialize() for i in tx.inputs))
    hash_sequence = _dsha(b"".join(i.sequence.to_bytes(4, "little") for i in tx.inputs))
    hash_outputs = _dsha(b"".join(o.serialize() for o in tx.outputs))
    preimage = b"".join(
        (
            tx.version.to_bytes(4, "little"),
            hash_prevouts,
            hash_sequence,
            txin.outpoint.serialize(),
            encode_varint(len(script_code)),
            script_code,
            value.to_bytes(8, "little"),
            txin.sequence.to_bytes(4, "little"),
            hash_outputs,
            tx.locktime.to_bytes(4, "little"),
            sighash_type.to_bytes(4, "little"),
        )
    )
    return _dsha(preimage)


class SegwitV0Sighasher:
    """BIP-143 digests of many transactions that differ only in their outputs.

    The CETs of a contract share version, input, sequence and locktime; the
    preimage's prefix and suffix are built once and only ``hashOutputs`` is
    computed per transaction.
    """

    def __init__(self, tx: Transaction, input_index: int, script_code: bytes, value: int) -> None:
        if not 0 <= input_index < len(tx.inputs):
            raise BitcoinError(f"input index {input_index} out of range ({len(tx.inputs)} inputs)")
        self._template = tx
        txin = tx.inputs[input_index]
        self._prefix = b"".join(
            (
                tx.version.to_bytes(4, "little"),
                _dsha(b"".join(i.outpoint.serialize() for i in tx.inputs)),
                _dsha(b"".join(i.sequence.to_bytes(4, "little") for i in tx.inputs)),
                txin.outpoint.serialize(),
                encode_varint(len(script_code)),
                script_code,
                value.to_bytes(8, "little"),
                txin.sequence.to_bytes(4, "little"),
            )
        )
        self._suffix = tx.locktime.to_bytes(4, "little") + SIGHASH_ALL.to_bytes(4, "little")

    def digest(self, tx: Transaction) -> bytes:
        """The digest of ``tx``, which must match the template but for its outputs."""
        template = self._template
        if (
            tx.inputs is not template.inputs
            and [i.outpoint for i in tx.inputs] != [i.outpoint for i in template.inputs]
        ) or (tx.version, tx.locktime) != (template.version, template.locktime):
            raise BitcoinError("transaction does not share the sighasher's inputs and locktime")
        if tx.inputs is not template.inputs and [i.sequence for i in tx.inputs] != [
            i.sequence for i in template.inputs
        ]:
            raise BitcoinError("transaction does not share the sighasher's input sequences")
        hash_outputs = _dsha(b"".join(o.serialize() for o in tx.outputs))
        return _dsha(self._prefix + hash_outputs + self._suffix)
