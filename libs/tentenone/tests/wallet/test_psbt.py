from __future__ import annotations

import importlib
import os
from typing import Any

import pytest

from tentenone.chain.network import Network
from tentenone.chain.source import OutPoint
from tentenone.wallet import (
    AddressKind,
    InvalidWalletInput,
    PsbtInput,
    SigningError,
    WalletAccount,
    create_psbt,
    extract_transaction,
    psbt_fee,
    sign_inputs,
)

_psbt: Any = importlib.import_module("embit.psbt")
_tx: Any = importlib.import_module("embit.transaction")
_script: Any = importlib.import_module("embit.script")
_ec: Any = importlib.import_module("embit.ec")

ALICE = "abandon " * 11 + "about"
BOB = "legal winner thank year wave sausage worth useful legal winner thank yellow"


def _input(account: WalletAccount, index: int, value: int) -> PsbtInput:
    derived = account.derive(0, index)
    return PsbtInput(OutPoint(os.urandom(32).hex(), index), value, derived.script, derived)


def _verify(raw: bytes, spent: list[tuple[bytes, int]]) -> None:
    """Check every input's signature against the sighash it commits to."""
    tx = _tx.Transaction.parse(raw)
    for i, vin in enumerate(tx.vin):
        spk, value = spent[i]
        witness = vin.witness.items
        if spk[:2] == b"\x00\x14":
            sig, pub = witness
            digest = tx.sighash_segwit(
                i, _script.p2pkh_from_p2wpkh(_script.Script(spk)), value, sighash=sig[-1]
            )
            assert _ec.PublicKey.parse(pub).verify(_ec.Signature.parse(sig[:-1]), digest)
        else:
            (sig,) = witness
            digest = tx.sighash_taproot(
                i,
                script_pubkeys=[_script.Script(s) for s, _ in spent],
                values=[v for _, v in spent],
            )
            key = _ec.PublicKey.from_xonly(spk[2:])
            assert key.schnorr_verify(_ec.SchnorrSig.parse(sig), digest)


@pytest.mark.parametrize("kind", list(AddressKind))
def test_each_party_signs_only_its_inputs(kind: AddressKind) -> None:
    alice = WalletAccount.from_mnemonic(ALICE, Network.REGTEST, kind)
    bob = WalletAccount.from_mnemonic(BOB, Network.REGTEST, kind)
    ins = [_input(alice, 0, 60_000), _input(bob, 3, 70_000)]
    pay = (alice.derive(0, 9).script, 120_000)
    psbt = create_psbt(alice, ins, [pay])
    assert psbt_fee(psbt) == 10_000

    with pytest.raises(SigningError, match="does not own"):
        sign_inputs(psbt, alice, {1: alice.derive(0, 3)})
    half = sign_inputs(psbt, alice, {0: ins[0].derived})
    with pytest.raises(SigningError, match=r"\[1\]"):
        extract_transaction(half)
    full = sign_inputs(half, bob, {1: ins[1].derived})
    raw = extract_transaction(full)
    _verify(raw, [(i.script, i.value) for i in ins])


def test_tampered_signature_fails_verification() -> None:
    alice = WalletAccount.from_mnemonic(ALICE, Network.REGTEST)
    ins = [_input(alice, 0, 60_000)]
    raw = extract_transaction(
        sign_inputs(create_psbt(alice, ins, [(ins[0].script, 50_000)]), alice, {0: ins[0].derived})
    )
    tx = _tx.Transaction.parse(raw)
    tx.vout[0].value = 50_001  # what the signature commits to changed
    with pytest.raises(AssertionError):
        _verify(tx.serialize(), [(ins[0].script, 60_000)])


def test_watch_only_and_malformed_psbts_are_refused() -> None:
    alice = WalletAccount.from_mnemonic(ALICE, Network.REGTEST)
    xpub = alice.descriptor(0).split("]")[1].split("/")[0]
    watch = WalletAccount.watch_only(
        AddressKind.P2WPKH, Network.REGTEST, 0, alice.fingerprint, xpub
    )
    ins = [_input(alice, 0, 60_000)]
    psbt = create_psbt(alice, ins, [(ins[0].script, 50_000)])
    with pytest.raises(SigningError, match="watch-only"):
        sign_inputs(psbt, watch, {0: ins[0].derived})
    with pytest.raises(InvalidWalletInput, match="not a valid PSBT"):
        sign_inputs("bm90IGEgcHNidA==", alice, {})
    with pytest.raises(SigningError, match="no input 5"):
        sign_inputs(psbt, alice, {5: ins[0].derived})


def test_psbt_round_trips_through_embit() -> None:
    alice = WalletAccount.from_mnemonic(ALICE, Network.REGTEST, AddressKind.P2TR)
    ins = [_input(alice, 1, 10_000)]
    psbt = create_psbt(alice, ins, [(ins[0].script, 9_000)], change=(alice.derive(1, 0), 500))
    parsed = _psbt.PSBT.from_string(psbt)
    assert len(parsed.outputs) == 2
    assert parsed.tx.vin[0].sequence == 0xFFFFFFFD
    assert (
        next(iter(parsed.inputs[0].taproot_bip32_derivations.values()))[1].fingerprint
        == alice.fingerprint
    )
