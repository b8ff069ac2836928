"""Conformance handlers for the cryptography and transaction vector files.

``run_<file stem>(path) -> list[CaseResult]`` for ``ecdsa_adaptor.json``,
``contract_id_test.json``, ``dlc_fee_test.json``, ``dlc_fee_test_scripts.json``,
``dlc_schnorr_test.json``, ``dlc_hash_test.json`` and ``dlc_tx_test.json``;
``HANDLERS`` maps each file name to its handler. A case passes only when every
value is recomputed byte for byte, and a case that carries an ``error`` passes
only when we reject it too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tentenone.bitcoin.curve import base_mult, scalar_from_bytes
from tentenone.bitcoin.script import (
    address_to_script_pubkey,
    is_standard_script_pubkey,
    p2sh,
    p2wpkh,
    p2wsh,
)
from tentenone.bitcoin.tx import OutPoint, encode_varint, parse_transaction
from tentenone.dlc import adaptor
from tentenone.dlc import transactions as dlctx
from tentenone.dlc.conformance._result import CaseResult
from tentenone.errors import TentenoneError
from tentenone.oracle import schnorr
from tentenone.oracle.hashing import OracleHashing, normalize_outcome, outcome_message

__all__ = [
    "HANDLERS",
    "run_contract_id_test",
    "run_dlc_fee_test",
    "run_dlc_fee_test_scripts",
    "run_dlc_hash_test",
    "run_dlc_schnorr_test",
    "run_dlc_tx_test",
    "run_ecdsa_adaptor",
]

Case = Callable[[dict[str, Any]], str | None]


def _load(path: str | Path) -> list[dict[str, Any]]:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of cases")
    return data


def _run(
    path: str | Path, check: Case, label: Callable[[int, dict[str, Any]], str]
) -> list[CaseResult]:
    """Run ``check`` on every case: it returns None when the case passed, else why not."""
    stem = Path(path).stem
    results = []
    for i, case in enumerate(_load(path)):
        name = f"{stem}[{i}] {label(i, case)}".rstrip()
        try:
            failure = check(case)
        except TentenoneError as exc:
            failure = f"raised {type(exc).__name__}: {exc.message}"
        results.append(CaseResult(name, failure is None, failure or "ok"))
    return results


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def _show(value: bytes | str | int) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


def _mismatch(what: str, got: bytes | str | int, want: bytes | str | int) -> str:
    return f"{what}: got {_show(got)}, want {_show(want)}"


# ecdsa_adaptor.json -------------------------------------------------------------


def _adaptor_case(case: dict[str, Any]) -> str | None:
    expected_error = case.get("error")
    try:
        failure = _adaptor_case_checks(case)
    except TentenoneError as exc:
        if expected_error:
            return None
        raise exc
    if expected_error:
        return f"accepted a case that must fail ({expected_error})" if failure is None else None
    return failure


def _adaptor_case_checks(case: dict[str, Any]) -> str | None:
    kind = case["kind"]
    blob = _h(case["adaptor_sig"])
    sig = adaptor.AdaptorSignature.from_bytes(blob)
    if sig.to_bytes() != blob:
        return _mismatch("re-serialized adaptor signature", sig.to_bytes(), blob)
    if kind == "serialization":
        return None
    if kind == "verification":
        if not adaptor.verify(
            _h(case["public_signing_key"]),
            _h(case["encryption_key"]),
            _h(case["message_hash"]),
            sig,
        ):
            return "adaptor signature does not verify"
        decrypted = adaptor.decrypt(sig, _h(case["decryption_key"]))
        if decrypted != _h(case["signature"]):
            return _mismatch("decrypted signature", decrypted, _h(case["signature"]))
    recovered = adaptor.recover(_h(case["encryption_key"]), sig, _h(case["signature"]))
    if recovered != _h(case["decryption_key"] or ""):
        return _mismatch("recovered decryption key", recovered, case["decryption_key"] or "")
    return None


def run_ecdsa_adaptor(path: str | Path) -> list[CaseResult]:
    return _run(
        path,
        _adaptor_case,
        lambda i, c: f"{c['kind']}: {c.get('comment') or c.get('error') or ''}",
    )


# contract_id_test.json ----------------------------------------------------------


def _contract_id_case(case: dict[str, Any]) -> str | None:
    got = dlctx.contract_id(
        _h(case["fundTxId"])[::-1], case["fundOutputIndex"], _h(case["temporaryContractId"])
    )
    return (
        None
        if got == _h(case["contractId"])
        else _mismatch("contract id", got, _h(case["contractId"]))
    )


def run_contract_id_test(path: str | Path) -> list[CaseResult]:
    return _run(path, _contract_id_case, lambda i, c: f"output index {c['fundOutputIndex']}")


# dlc_fee_test.json --------------------------------------------------------------


def _fee_party(inputs: list[dict[str, int]], payout_len: int, change_len: int) -> dlctx.PartyParams:
    """A party whose scripts have the vector's lengths (contents do not enter the fees)."""
    funding_inputs = tuple(
        dlctx.FundingInput(
            OutPoint(bytes(32), i),
            0,
            b"",
            entry["maxWitnessLen"],
            redeem_script=bytes(entry["redeemScriptLen"]),
        )
        for i, entry in enumerate(inputs)
    )
    return dlctx.PartyParams(
        bytes(33), bytes(change_len), 0, bytes(payout_len), 0, funding_inputs, 0
    )


def _fee_case(case: dict[str, Any]) -> str | None:
    inputs = case["inputs"]
    rate = inputs["feeRate"]
    for side in ("offer", "accept"):
        party = _fee_party(
            inputs[f"{side}Inputs"], inputs[f"{side}PayoutSPKLen"], inputs[f"{side}ChangeSPKLen"]
        )
        fees = dlctx.party_fees(party, rate)
        if fees.funding_fee != case[f"{side}FundingFee"]:
            return _mismatch(f"{side} funding fee", fees.funding_fee, case[f"{side}FundingFee"])
        if fees.closing_fee != case[f"{side}ClosingFee"]:
            return _mismatch(f"{side} closing fee", fees.closing_fee, case[f"{side}ClosingFee"])
    return None


def run_dlc_fee_test(path: str | Path) -> list[CaseResult]:
    return _run(path, _fee_case, lambda i, c: f"fee rate {c['inputs']['feeRate']}")


def _witness_items(data: bytes) -> Iterator[bytes]:
    """Items of a serialized witness stack (count, then length-prefixed items)."""
    count, pos = data[0], 1
    for _ in range(count):
        size = data[pos]
        item = data[pos + 1 : pos + 1 + size]
        if len(item) != size:
            raise ValueError("truncated witness item")
        yield item
        pos += 1 + size
    if pos != len(data):
        raise ValueError("trailing bytes after the witness stack")


def _fee_script_case(case: dict[str, Any]) -> str | None:
    script = _h(case["script"])
    if len(script) != case["byteLen"]:
        return _mismatch("script length", len(script), case["byteLen"])
    description: str = case["description"]
    if description.endswith("witness"):
        items = list(_witness_items(script))
        again = encode_varint(len(items)) + b"".join(encode_varint(len(x)) + x for x in items)
        return None if again == script else _mismatch("re-serialized witness", again, script)
    if description.endswith("spk"):
        standard = description.split()[0] in ("p2wpkh", "p2pkh", "p2wsh")
        if is_standard_script_pubkey(script) != standard:
            return f"standardness of a {description}: expected {standard}"
    return None


def run_dlc_fee_test_scripts(path: str | Path) -> list[CaseResult]:
    return _run(path, _fee_script_case, lambda i, c: str(c["description"]))


# dlc_schnorr_test.json ----------------------------------------------------------


def _schnorr_case(case: dict[str, Any]) -> str | None:
    inputs = case["inputs"]
    secret, nonce, msg = _h(inputs["privKey"]), _h(inputs["privNonce"]), _h(inputs["msgHash"])
    checks = [
        ("public key", schnorr.public_key(secret), _h(case["pubKey"])),
        ("public nonce", schnorr.nonce_point(nonce), _h(case["pubNonce"])),
        ("signature", schnorr.sign_with_nonce(secret, nonce, msg), _h(case["signature"])),
        (
            "signature point",
            schnorr.signature_point(_h(case["pubKey"]), _h(case["pubNonce"]), msg).format(),
            _h(case["sigPoint"]),
        ),
    ]
    for what, got, want in checks:
        if got != want:
            return _mismatch(what, got, want)
    if not schnorr.verify(_h(case["pubKey"]), msg, _h(case["signature"])):
        return "signature does not verify"
    return None


def run_dlc_schnorr_test(path: str | Path) -> list[CaseResult]:
    return _run(path, _schnorr_case, lambda i, c: c["pubKey"][:16])


# dlc_hash_test.json -------------------------------------------------------------


def _hash_case(case: dict[str, Any]) -> str | None:
    for variant in case["Variants"]:
        encoded = normalize_outcome(variant)
        if encoded != _h(case["Expected"]):
            return _mismatch(f"NFC UTF-8 of {variant!r}", encoded, _h(case["Expected"]))
        digest = hashlib.sha256(encoded).digest()
        if digest != _h(case["SHA256"]):
            return _mismatch(f"SHA256 of {variant!r}", digest, _h(case["SHA256"]))
    # The vectors' oracle hashing is plain SHA256 of the normalized outcome.
    if outcome_message(case["Variants"][0], OracleHashing.SHA256) != _h(case["SHA256"]):
        return "outcome_message(SHA256) differs from the vector's hash"
    return None


def run_dlc_hash_test(path: str | Path) -> list[CaseResult]:
    return _run(path, _hash_case, lambda i, c: str(c["Description"]))


# dlc_tx_test.json ---------------------------------------------------------------


def _nested_redeem_script(entry: dict[str, Any]) -> bytes:
    """The P2SH redeem script of a nested segwit input, implied by its witness template:
    a lone item is a P2WSH witness script, two items are a P2WPKH signature and key."""
    prev = parse_transaction(_h(entry["tx"])).outputs[entry["idx"]].script_pubkey
    if not (len(prev) == 23 and prev[:2] == b"\xa9\x14"):
        return b""
    items = list(_witness_items(_h(entry["scriptWitness"])))
    program = p2wsh(items[-1]) if len(items) == 1 else p2wpkh(items[-1])
    return program if p2sh(program) == prev else b""


def _tx_party(
    params: dict[str, Any], first_serial: int, change_serial: int, payout_serial: int
) -> dlctx.PartyParams:
    """The older (pre-serial-id) vectors order inputs offer-then-accept and outputs
    [funding, offer change, accept change] / [offer, accept]: serial ids in that order
    reproduce them."""
    inputs = tuple(
        dlctx.FundingInput.from_prev_tx(
            _h(entry["tx"]),
            entry["idx"],
            max_witness_len=entry["maxWitnessLen"],
            redeem_script=_nested_redeem_script(entry),
            serial_id=first_serial + n,
        )
        for n, entry in enumerate(params["fundingInputTxs"])
    )
    fund_key = base_mult(scalar_from_bytes(_h(params["fundingPrivKey"]), "funding key")).format()
    return dlctx.PartyParams(
        fund_key,
        address_to_script_pubkey(params["changeAddress"]),
        change_serial,
        address_to_script_pubkey(params["payoutAddress"]),
        payout_serial,
        inputs,
        params["collateral"],
    )


def _tx_case(case: dict[str, Any]) -> str | None:
    inputs, want = case["inputs"], case["txs"]
    params = inputs["params"]
    offer = _tx_party(inputs["offerParams"], 0, 1, 0)
    accept = _tx_party(inputs["acceptParams"], len(offer.inputs), 2, 1)
    total = offer.collateral + accept.collateral
    payouts = [(c["localPayout"], total - c["localPayout"]) for c in params["contractInfo"]]
    txs = dlctx.build_dlc_transactions(
        offer,
        accept,
        payouts,
        fee_rate=params["feeRate"],
        fund_output_serial_id=0,
        cet_lock_time=params["contractMaturityBound"],
        refund_lock_time=params["contractTimeout"],
    )
    funding = txs.funding.tx.serialize()
    if funding != _h(want["fundingTx"]):
        return _mismatch("funding transaction", funding, _h(want["fundingTx"]))
    # The vectors write CETs and refund unsigned, with the witness script as the
    # only witness item.
    script_only = [(txs.funding.funding_script,)]
    if len(txs.cets) != len(want["cets"]):
        return _mismatch("CET count", len(txs.cets), len(want["cets"]))
    for i, (cet, cet_hex) in enumerate(zip(txs.cets, want["cets"], strict=True)):
        got = cet.with_witnesses(script_only).serialize()
        if got != _h(cet_hex):
            return _mismatch(f"CET {i}", got, _h(cet_hex))
    refund = txs.refund.with_witnesses(script_only).serialize()
    if refund != _h(want["refundTx"]):
        return _mismatch("refund transaction", refund, _h(want["refundTx"]))
    return _check_tx_case_signing(txs, inputs)


def _check_tx_case_signing(txs: dlctx.DlcTransactions, inputs: dict[str, Any]) -> str | None:
    """Beyond the bytes: both parties' signatures of the refund verify, and the
    real outcome's oracle signature is valid for the vector's oracle."""
    funding = txs.funding
    for side in ("offerParams", "acceptParams"):
        key = _h(inputs[side]["fundingPrivKey"])
        sig = dlctx.sign_funding_spend(txs.refund, key, funding.funding_script, funding.value)
        pub = base_mult(scalar_from_bytes(key, "funding key")).format()
        if not dlctx.verify_funding_spend(
            txs.refund, pub, sig, funding.funding_script, funding.value
        ):
            return f"{side} refund signature does not verify"
        if sig[0] >= 0x80:
            return f"{side} refund signature is not low-R"
    params = inputs["params"]
    oracle_sig = _h(params["oracleSignature"])
    pubkey = _h(params["oracleInfo"]["publicKey"])
    if oracle_sig[:32] != _h(params["oracleInfo"]["nonce"]):
        return "oracle signature does not use the announced nonce"
    if not schnorr.verify(pubkey, _h(params["realOutcome"]), oracle_sig):
        return "oracle signature of the real outcome does not verify"
    return None


def run_dlc_tx_test(path: str | Path) -> list[CaseResult]:
    return _run(
        path,
        _tx_case,
        lambda i, c: (
            f"{len(c['inputs']['params']['contractInfo'])} outcomes, "
            f"inputs {len(c['inputs']['offerParams']['fundingInputTxs'])}"
            f"+{len(c['inputs']['acceptParams']['fundingInputTxs'])}"
        ),
    )


HANDLERS: dict[str, Callable[[str | Path], list[CaseResult]]] = {
    "ecdsa_adaptor.json": run_ecdsa_adaptor,
    "contract_id_test.json": run_contract_id_test,
    "dlc_fee_test.json": run_dlc_fee_test,
    "dlc_fee_test_scripts.json": run_dlc_fee_test_scripts,
    "dlc_schnorr_test.json": run_dlc_schnorr_test,
    "dlc_hash_test.json": run_dlc_hash_test,
    "dlc_tx_test.json": run_dlc_tx_test,
}
