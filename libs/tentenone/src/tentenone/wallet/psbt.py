"""PSBT (BIP-174) creation, signing of chosen inputs, and extraction of the final transaction.

Signing is per input: the DLC funding transaction holds inputs of both
parties, and each signs only its own. We sign an input only if its spent
output's script is one we derive ourselves, so a PSBT cannot trick us into
signing for a script we did not expect. Amounts come from ``witness_utxo``;
for P2TR every input must carry it (BIP-341 signs all spent amounts).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tentenone.chain.source import OutPoint
from tentenone.wallet._embit import ec, psbt, script, transaction
from tentenone.wallet.descriptors import AddressKind, DerivedScript, WalletAccount
from tentenone.wallet.errors import InvalidWalletInput, SigningError

__all__ = [
    "RBF_SEQUENCE",
    "PsbtInput",
    "create_psbt",
    "extract_transaction",
    "parse_psbt",
    "psbt_fee",
    "psbt_inputs",
    "sign_inputs",
]

#: nSequence signalling BIP-125 replaceability (and allowing nLockTime).
RBF_SEQUENCE = 0xFFFFFFFD


@dataclass(frozen=True, slots=True)
class PsbtInput:
    outpoint: OutPoint
    value: int
    script: bytes
    derived: DerivedScript | None = None
    """Set for our own inputs: the PSBT then carries the key origin."""
    sequence: int = RBF_SEQUENCE


def parse_psbt(data: str | bytes) -> Any:
    """An embit PSBT from base64 text or raw bytes; ``InvalidWalletInput`` if malformed."""
    try:
        raw = base64.b64decode(data, validate=True) if isinstance(data, str) else data
        return psbt.PSBT.parse(raw)
    except (binascii.Error, ValueError, TypeError, AttributeError, Exception) as exc:
        raise InvalidWalletInput(f"not a valid PSBT: {exc}") from None


def create_psbt(
    account: WalletAccount,
    inputs: Sequence[PsbtInput],
    outputs: Sequence[tuple[bytes, int]],
    *,
    change: tuple[DerivedScript, int] | None = None,
    locktime: int = 0,
) -> str:
    """A base64 PSBT spending ``inputs`` to ``outputs`` (+ our change output, placed last)."""
    if not inputs:
        raise InvalidWalletInput("a transaction needs at least one input")
    vin = [
        transaction.TransactionInput(
            bytes.fromhex(i.outpoint.txid), i.outpoint.vout, sequence=i.sequence
        )
        for i in inputs
    ]
    pays = list(outputs) + ([(change[0].script, change[1])] if change else [])
    vout = [transaction.TransactionOutput(value, script.Script(spk)) for spk, value in pays]
    tx = transaction.Transaction(version=2, vin=vin, vout=vout, locktime=locktime)
    out = psbt.PSBT(tx)
    for i, spec in enumerate(inputs):
        out.inputs[i].witness_utxo = transaction.TransactionOutput(
            spec.value, script.Script(spec.script)
        )
        if spec.derived is not None:
            _add_origin(out.inputs[i], account, spec.derived)
    if change is not None:
        _add_origin(out.outputs[len(pays) - 1], account, change[0])
    return str(out.to_string())


def _add_origin(scope: Any, account: WalletAccount, derived: DerivedScript) -> None:
    origin = psbt.DerivationPath(account.fingerprint, list(derived.path))
    pub = ec.PublicKey.parse(derived.pubkey)
    if account.kind is AddressKind.P2TR:
        scope.taproot_bip32_derivations[pub] = ([], origin)
    else:
        scope.bip32_derivations[pub] = origin


def psbt_inputs(data: str) -> list[tuple[OutPoint, bytes | None, int | None]]:
    """(outpoint, spent script, spent value) of every input, as far as the PSBT says."""
    parsed = parse_psbt(data)
    rows = []
    for i, vin in enumerate(parsed.tx.vin):
        utxo = _utxo(parsed, i)
        rows.append(
            (
                OutPoint(vin.txid.hex(), vin.vout),
                bytes(utxo.script_pubkey.data) if utxo is not None else None,
                int(utxo.value) if utxo is not None else None,
            )
        )
    return rows


def psbt_fee(data: str) -> int:
    parsed = parse_psbt(data)
    spent = []
    for i in range(len(parsed.inputs)):
        utxo = _utxo(parsed, i)
        if utxo is None:
            raise InvalidWalletInput(f"input {i} carries no spent output: fee unknown")
        spent.append(int(utxo.value))
    return sum(spent) - sum(int(o.value) for o in parsed.tx.vout)


def sign_inputs(data: str, account: WalletAccount, ours: Mapping[int, DerivedScript]) -> str:
    """Sign the inputs ``ours`` maps to our derived scripts; leave every other input alone."""
    parsed = parse_psbt(data)
    for index, derived in ours.items():
        if not 0 <= index < len(parsed.inputs):
            raise SigningError(f"the PSBT has no input {index}")
        utxo = _utxo(parsed, index)
        if utxo is None:
            raise SigningError(f"input {index} carries no spent output (witness_utxo)")
        if bytes(utxo.script_pubkey.data) != derived.script:
            raise SigningError(f"input {index} spends a script this wallet does not own")
        key = account.private_key(derived.path)
        if account.kind is AddressKind.P2TR:
            _sign_taproot(parsed, index, key)
        else:
            _sign_p2wpkh(parsed, index, key, derived)
    return str(parsed.to_string())


def _sign_p2wpkh(parsed: Any, index: int, key: Any, derived: DerivedScript) -> None:
    digest = parsed.sighash(index, sighash=transaction.SIGHASH.ALL)
    signature = key.sign(digest).serialize() + bytes([transaction.SIGHASH.ALL])
    inp = parsed.inputs[index]
    inp.final_scriptwitness = script.Witness([signature, derived.pubkey])
    inp.partial_sigs = {}
    inp.bip32_derivations = {}


def _sign_taproot(parsed: Any, index: int, key: Any) -> None:
    for i in range(len(parsed.inputs)):
        if _utxo(parsed, i) is None:
            raise SigningError(f"input {i} has no witness_utxo: BIP-341 signs every spent output")
    if parsed.sign_input_with_tapkey(key, index, sighash=transaction.SIGHASH.DEFAULT) != 1:
        raise SigningError(f"input {index}: our key does not match its taproot output")
    parsed.inputs[index].taproot_bip32_derivations = {}


def _utxo(parsed: Any, index: int) -> Any:
    inp = parsed.inputs[index]
    if inp.witness_utxo is not None:
        return inp.witness_utxo
    if inp.non_witness_utxo is not None:
        return inp.non_witness_utxo.vout[parsed.tx.vin[index].vout]
    return None


def extract_transaction(data: str) -> bytes:
    """The signed transaction; ``SigningError`` naming any input still without a signature."""
    parsed = parse_psbt(data)
    tx = transaction.Transaction.parse(parsed.tx.serialize())
    missing = []
    for i, inp in enumerate(parsed.inputs):
        if inp.final_scriptwitness:
            tx.vin[i].witness = inp.final_scriptwitness
        if inp.final_scriptsig:
            tx.vin[i].script_sig = inp.final_scriptsig
        if not inp.final_scriptwitness and not inp.final_scriptsig:
            missing.append(i)
    if missing:
        raise SigningError(f"inputs {missing} are not signed yet")
    return bytes(tx.serialize())
