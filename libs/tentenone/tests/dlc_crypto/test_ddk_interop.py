"""Interoperability with rust-dlc, the reference: its signer (``@bennyblader/ddk-ts``)
verifies our adaptor signatures, we verify its, and both compute the same adaptor
points, CET digests and decrypted signatures.

Node and the npm package are installed from ``bench/package-lock.json`` when
missing. Without node/npm the test is skipped locally and fails in
CI (``CI=true``), so it can never be skipped silently there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tentenone.bitcoin import ecdsa
from tentenone.bitcoin.curve import base_mult
from tentenone.bitcoin.script import p2wpkh
from tentenone.bitcoin.tx import OutPoint, Transaction
from tentenone.dlc import adaptor
from tentenone.dlc import transactions as dlctx
from tentenone.oracle import schnorr
from tentenone.oracle.attestation import DigitPointTable, attest, attestation_secret
from tentenone.oracle.hashing import OracleHashing, outcome_message

BENCH = Path(__file__).resolve().parents[4] / "bench"
NB_DIGITS = 20
# Digit prefixes of a few CETs: CET index, prefix (lengths 1 to 20).
PREFIXES: list[tuple[int, tuple[int, ...]]] = [
    (0, (0,)),
    (1, (1, 0)),
    (1, (1, 1, 0)),
    (2, (1, 1, 1, 0, 1)),
    (2, tuple([1] * 10)),
    (0, tuple([1, 0] * 10)),
]


def _node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        message = "node and npm are needed to run rust-dlc (ddk-ts)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    if not (BENCH / "node_modules" / "@bennyblader" / "ddk-ts").is_dir():
        # Not `npm ci`: it refuses this lock because ddk-ts names per-platform packages
        # the registry does not have (its binaries are inside the main package).
        # `install --no-save` still takes the locked version and integrity.
        install = [npm, "install", "--no-save", "--no-audit", "--no-fund"]
        subprocess.run(install, cwd=BENCH, check=True, timeout=600)
    return node


def _run_ddk(node: str, request: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    done = subprocess.run(
        [node, str(BENCH / "ddk_dlc.mjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _cets() -> tuple[list[Transaction], bytes, int]:
    parties = []
    for n in (1, 2):
        pub = base_mult(n).format()
        utxo = dlctx.FundingInput(OutPoint(bytes([n]) * 32, 0), 200_000, p2wpkh(pub), 108)
        parties.append(dlctx.PartyParams(pub, p2wpkh(pub), n, p2wpkh(pub), n, (utxo,), 100_000))
    txs = dlctx.build_dlc_transactions(
        parties[0],
        parties[1],
        [(200_000, 0), (120_000, 80_000), (0, 200_000)],
        fee_rate=3,
        fund_output_serial_id=0,
        cet_lock_time=100,
        refund_lock_time=200,
    )
    return txs.cets, txs.funding.funding_script, txs.funding.value


def _cet_json(tx: Transaction) -> dict[str, Any]:
    return {
        "version": tx.version,
        "lockTime": tx.locktime,
        "inputs": [
            {
                "txid": i.outpoint.txid[::-1].hex(),
                "vout": i.outpoint.vout,
                "scriptSig": i.script_sig.hex(),
                "sequence": i.sequence,
            }
            for i in tx.inputs
        ],
        "outputs": [{"value": o.value, "scriptPubkey": o.script_pubkey.hex()} for o in tx.outputs],
        "raw": tx.serialize().hex(),
    }


def test_rust_dlc_and_we_verify_each_other(tmp_path: Path) -> None:
    node = _node()
    oracle_key = b"\x11" * 32
    nonce_secrets = [bytes([i + 1]) * 32 for i in range(NB_DIGITS)]
    nonces = [schnorr.nonce_point(k) for k in nonce_secrets]
    oracle_pub = schnorr.public_key(oracle_key)
    funding_key = b"\x22" * 32
    funding_pub = base_mult(int.from_bytes(funding_key, "big")).format()
    cets, script, value = _cets()
    digests_per_cet = dlctx.cet_sighashes(cets, script, value)

    table = DigitPointTable(oracle_pub, nonces, OracleHashing.SHA256)
    points = [table.prefix_point(prefix) for _, prefix in PREFIXES]
    digests = [digests_per_cet[cet] for cet, _ in PREFIXES]
    ours = adaptor.encrypt_many(funding_key, list(zip(points, digests, strict=True)))
    # The oracle attests an outcome starting with each prefix: its first digits' signatures.
    oracle_sigs = []
    for _, prefix in PREFIXES:
        outcome = [str(d) for d in prefix] + ["0"] * (NB_DIGITS - len(prefix))
        sigs = attest(oracle_key, nonce_secrets, outcome, OracleHashing.SHA256)
        oracle_sigs.append(sigs[: len(prefix)])

    digit_messages = [outcome_message(str(d), OracleHashing.SHA256).hex() for d in (0, 1)]
    request = {
        "cets": [_cet_json(cets[cet]) for cet, _ in PREFIXES],
        "oracle": {"publicKey": oracle_pub.hex(), "nonces": [n.hex() for n in nonces]},
        "msgs": [[digit_messages[d] for d in prefix] for _, prefix in PREFIXES],
        "fundingScript": script.hex(),
        "fundValue": value,
        "secretKey": funding_key.hex(),
        "pubkey": funding_pub.hex(),
        "ops": ["points", "sighashes", "sign", "verify_each", "decrypt"],
        "sigs": [s.to_bytes().hex() for s in ours],
        "oracleSigs": [[s.hex() for s in sigs] for sigs in oracle_sigs],
    }
    theirs = _run_ddk(node, request, tmp_path)

    assert theirs["points"] == [p.format().hex() for p in points]
    assert theirs["sighashes"] == [d.hex() for d in digests]
    # rust-dlc verifies every adaptor signature we made...
    assert theirs["verify_each"] == [True] * len(PREFIXES)
    # ...and decrypts them, with the oracle's signatures, to the signature we get.
    for sig, sigs, decrypted in zip(ours, oracle_sigs, theirs["decrypted"], strict=True):
        ecdsa_sig = adaptor.decrypt(sig, attestation_secret(sigs))
        assert bytes.fromhex(decrypted) == ecdsa.compact_to_der(ecdsa_sig)
    # We verify every adaptor signature rust-dlc made, and recover the oracle's secret.
    their_sigs = [bytes.fromhex(s) for s in theirs["sigs"]]
    items = list(zip(points, digests, their_sigs, strict=True))
    assert adaptor.verify_many(funding_pub, items) == [True] * len(PREFIXES)
    for point, sig, sigs in zip(points, their_sigs, oracle_sigs, strict=True):
        secret = attestation_secret(sigs)
        assert adaptor.recover(point, sig, adaptor.decrypt(sig, secret)) == secret
    # A tampered signature is refused by rust-dlc too.
    bad = bytearray(ours[0].to_bytes())
    bad[100] ^= 1
    request.update(ops=["verify_each"], sigs=[bytes(bad).hex(), *request["sigs"][1:]])
    assert _run_ddk(node, request, tmp_path)["verify_each"][0] is False
